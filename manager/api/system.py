"""Manager-level endpoints: version, status, maintenance and the cluster shape `cfy` reads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from manager import __version__
from manager.api.deps import CurrentPrincipal, SessionDep, require

COMPATIBLE_VERSION = "7.0.5"
LOOPBACK = "127.0.0.1"

unversioned = APIRouter(tags=["system"])
router = APIRouter(tags=["system"])


@unversioned.get("/api/version")
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


@router.get("/status", dependencies=[require("status_get")])
def status(request: Request, session: SessionDep, _: CurrentPrincipal) -> dict[str, Any]:
    services = {
        "Database": _service(_database_alive(session)),
        "Broker": _service(request.app.state.broker.ping()),
    }
    healthy = all(s["status"] == "Active" for s in services.values())
    return {"status": "OK" if healthy else "Fail", "services": services}


def _database_alive(session: SessionDep) -> bool:
    try:
        session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not active"
        return False
    return True


def _service(alive: bool) -> dict[str, Any]:
    return {"status": "Active" if alive else "Failed", "is_remote": False, "extra_info": {}}


@router.get("/maintenance", dependencies=[require("maintenance_mode_get")])
def maintenance(_: CurrentPrincipal) -> dict[str, Any]:
    return {
        "status": "deactivated",
        "activated_at": None,
        "activation_requested_at": None,
        "remaining_executions": None,
        "requested_by": None,
    }


@router.get("/provider/context", dependencies=[require("provider_context_get")])
def provider_context(_: CurrentPrincipal) -> dict[str, Any]:
    return {"name": "provider", "context": {"cloudify": {}}}


# One manager, broker and database on the same address: `cfy profiles use` then treats the
# profile as all-in-one and needs no cluster failover client.
@router.get("/managers", dependencies=[require("manager_get")])
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


@router.get("/brokers", dependencies=[require("broker_get")])
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


@router.get("/db-nodes", dependencies=[require("db_nodes_get")])
def db_nodes(_: CurrentPrincipal) -> dict[str, Any]:
    return _single({"name": "database", "host": LOOPBACK, "is_external": False})


def _single(row: dict[str, Any]) -> dict[str, Any]:
    return {"items": [row], "metadata": {"pagination": {"total": 1, "size": 1000, "offset": 0}}}
