"""Manager-level endpoints: version, status, maintenance, config and the cluster shape `cfy`
reads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from manager import __version__
from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, require
from manager.api.pagination import ListSpec, list_response, parse_list_query
from manager.errors import NotFound
from manager.schemas.common import READ, ListRead
from manager.schemas.system import (
    BrokerRead,
    ClusterRead,
    ConfigRead,
    DbNodeRead,
    LicenseCheckRead,
    MaintenanceRead,
    ManagerRead,
    ProviderContextRead,
    StatusRead,
    VersionRead,
)
from manager.services import workers as worker_presence
from manager.settings import Settings

COMPATIBLE_VERSION = "7.0.5"
LOOPBACK = "127.0.0.1"

unversioned = APIRouter(tags=["system"])
router = APIRouter(tags=["system"])


@unversioned.get("/api/version", response_model=VersionRead)
def version() -> dict[str, Any]:
    """The only unauthenticated endpoint; `cfy` reads `edition` and `version`."""
    return {
        "edition": "community",
        "version": COMPATIBLE_VERSION,
        "build": None,
        "date": None,
        "commit": None,
        "distribution": "quarterdeck",
        "distro_release": __version__,
        "quarterdeck_version": __version__,
    }


@router.get("/status", response_model=StatusRead, dependencies=[require("status_get")])
def status(request: Request, session: SessionDep, _: CurrentPrincipal) -> dict[str, Any]:
    """OK only when the database and the broker answer and at least one worker is live:
    without workers, executions are accepted but never progress."""
    database, broker = worker_presence.readiness(session, request.app.state.broker)
    live = worker_presence.safe_list_workers(session, request.app.state.broker) if broker else None
    found = live or []
    workers_info: dict[str, Any]
    if live is None:
        workers_info = {"message": "the workers' presence cannot be read from the broker"}
    elif not found:
        workers_info = {"message": "no worker is running: executions will not progress"}
    else:
        workers_info = {
            "count": len(found),
            "running_operations": sum(w["running_operations"] for w in found),
        }
    services = {
        "Database": _service(database),
        "Broker": _service(broker),
        "Workers": _service(bool(found), workers_info),
    }
    healthy = all(s["status"] == "Active" for s in services.values())
    return {"status": "OK" if healthy else "Fail", "services": services, "workers": found}


def _service(alive: bool, extra_info: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "status": "Active" if alive else "Failed",
        "is_remote": False,
        "extra_info": extra_info or {},
    }


@router.get(
    "/maintenance", response_model=MaintenanceRead, dependencies=[require("maintenance_mode_get")]
)
def maintenance(_: CurrentPrincipal) -> dict[str, Any]:
    return {
        "status": "deactivated",
        "activated_at": None,
        "activation_requested_at": None,
        "remaining_executions": None,
        "requested_by": None,
    }


@router.get(
    "/provider/context",
    response_model=ProviderContextRead,
    dependencies=[require("provider_context_get")],
)
def provider_context(_: CurrentPrincipal) -> dict[str, Any]:
    return {"name": "provider", "context": {"cloudify": {}}}


# One manager, broker and database on the same address: `cfy profiles use` then treats the
# profile as all-in-one and needs no cluster failover client.
@router.get(
    "/managers", response_model=ListRead[ManagerRead], dependencies=[require("manager_get")]
)
def managers(_: CurrentPrincipal) -> dict[str, Any]:
    row = {
        "id": 1,
        "hostname": "quarterdeck",
        "private_ip": LOOPBACK,
        "public_ip": LOOPBACK,
        "version": COMPATIBLE_VERSION,
        "edition": "community",
        "distribution": "quarterdeck",
        "distro_release": __version__,
        "networks": {"default": LOOPBACK},
    }
    return _single(row)


@router.get("/brokers", response_model=ListRead[BrokerRead], dependencies=[require("broker_get")])
def brokers(_: CurrentPrincipal) -> dict[str, Any]:
    return _single(
        {
            "name": "broker",
            "host": LOOPBACK,
            "port": 6379,
            "networks": {"default": LOOPBACK},
            "is_external": False,
        }
    )


@router.get(
    "/db-nodes", response_model=ListRead[DbNodeRead], dependencies=[require("db_nodes_get")]
)
def db_nodes(_: CurrentPrincipal) -> dict[str, Any]:
    return _single({"name": "database", "host": LOOPBACK, "is_external": False})


@router.get("/cluster", response_model=ClusterRead, dependencies=[require("cluster_status_get")])
def cluster(_: CurrentPrincipal) -> dict[str, Any]:
    """The pre-5.0.5 cluster state, which `cfy profiles use` reads only when `/managers`
    answers 404: one manager, set up and serving."""
    return {"initialized": True, "error": None, "logs": []}


@router.get(
    "/license-check", response_model=LicenseCheckRead, dependencies=[require("license_check")]
)
def license_check(_: CurrentPrincipal) -> dict[str, Any]:
    """The client's `license.check()`; a community manager (see `/api/version`) needs no
    license, so there is nothing to fail."""
    return {"status": "OK", "edition": "community"}


def _single(row: dict[str, Any]) -> dict[str, Any]:
    return {"items": [row], "metadata": {"pagination": {"total": 1, "size": 1000, "offset": 0}}}


# --- configuration ----------------------------------------------------------------------------

CONFIG_FIELDS = (
    "name",
    "value",
    "scope",
    "schema",
    "is_editable",
    "admin_only",
    "updated_at",
    "updated_by",
)
CONFIG_SPEC = ListSpec(
    columns={"name": None, "scope": None},
    fields=CONFIG_FIELDS,
    default_sort=("scope", "name"),
)


def config_rows(settings: Settings) -> list[dict[str, Any]]:
    """The settings clients read: `workflow` ones for operation and workflow code
    (`ctx.bootstrap_context`), `rest` ones for `cfy blueprints upload`'s size check."""

    def row(scope: str, name: str, value: Any, kind: str) -> dict[str, Any]:
        return {
            "name": name,
            "value": value,
            "scope": scope,
            "schema": {"type": kind},
            # Set through QD_* settings, not through the API.
            "is_editable": False,
            "admin_only": False,
            "updated_at": None,
            "updated_by": None,
        }

    return [
        row("rest", "blueprint_folder_max_files", 10000, "number"),
        row("rest", "blueprint_folder_max_size_mb", 50, "number"),
        row("workflow", "subgraph_retries", 0, "number"),
        row("workflow", "task_retries", settings.task_retries, "number"),
        row("workflow", "task_retry_interval", settings.task_retry_interval, "number"),
    ]


@router.get(
    "/config",
    response_model=ListRead[ConfigRead],
    **READ,
    dependencies=[require("manager_config_get")],
)
def config(request: Request, settings: SettingsDep, _: CurrentPrincipal) -> dict[str, Any]:
    """`GET /config[?scope=workflow]`: a list like every other, filtered and sorted in memory."""
    query = parse_list_query(request, CONFIG_SPEC)
    rows = [
        row
        for row in config_rows(settings)
        if all(str(row[name]) in values for name, values in query.filters.items())
    ]
    for name, descending in reversed(query.sort):
        rows.sort(key=lambda row: str(row[name]), reverse=descending)
    page = rows[query.offset : query.offset + query.size]
    return list_response(page, len(rows), query)


@router.get(
    "/config/{name}", response_model=ConfigRead, dependencies=[require("manager_config_get")]
)
def config_item(name: str, settings: SettingsDep, _: CurrentPrincipal) -> dict[str, Any]:
    """One setting, by `name` or `scope.name` (`client.manager.get_config(name, scope)`)."""
    for row in config_rows(settings):
        if name in (row["name"], f"{row['scope']}.{row['name']}"):
            return row
    raise NotFound.of("Config", name)
