"""The permission matrix: every route x every role x own tenant, another tenant's ids, a
tenant the caller is not a member of, and another tenant's global resources.

EXPECTED is written out by hand, one entry per route; a route the app serves without an entry
(or an entry without a route) fails `test_every_route_has_an_expectation`, so no endpoint
can be added without deciding who may call it. Worker-facing routes (`include_in_schema=False`,
manager/api/workers.py) authenticate with the worker token and are outside this matrix.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from manager.db import Plugin, Tenant
from manager.db.engine import Database
from tests.api.callers import (
    API,
    Caller,
    create_deployment,
    execution_caller,
    narrow_global_rows,
    new_tenant,
    new_user,
    start_execution_row,
    unique,
    upload_yaml,
)

SYS_ADMIN, MANAGER, OPERATIONS = "sys_admin", "manager", "operations"
USER, VIEWER = "user", "viewer"
# An execution token of an execution a tenant manager started.
EXECUTION = "execution_token"
ROLES = (SYS_ADMIN, MANAGER, OPERATIONS, USER, VIEWER, EXECUTION)

ALL = frozenset({SYS_ADMIN, MANAGER, OPERATIONS, USER, VIEWER})
OPERATE = ALL - {VIEWER}
AUTHOR = frozenset({SYS_ADMIN, MANAGER, USER})
ADMIN = frozenset({SYS_ADMIN})
# Anyone, even without credentials.
PUBLIC = frozenset({"anonymous", *ROLES})


@dataclass(frozen=True)
class Expect:
    # Who may call the route in their own tenant (EXECUTION: see NOT_FOR_EXECUTION_TOKENS).
    roles: frozenset[str]
    # Another tenant's id in the path is 404 to every allowed role (None: not a lookup,
    # e.g. a create, or not a tenant's resource at all).
    isolated: bool | None = True
    # Allowed for a user whose `Tenant` header names a tenant they are not a member of.
    tenantless: bool = False
    # JSON body sent (None: no body).
    body: Any = None
    # What the route does with another tenant's global blueprint, deployment, plugin or
    # secret (None: not a route about one): READ and USE work, WRITE is 403 but for system
    # administrators, RUN is 403 for everyone (see manager.services.tenancy.check_own_tenant).
    on_global: str | None = None
    # The body sent for the global case ("{name}" strings are filled with its ids), and
    # whether the path's ids are fresh ones rather than the global resource's.
    global_body: Any = None
    fresh_path: bool = False


READ, USE, WRITE, RUN = "read", "use", "write", "run"


def _iso_rule(key: str) -> dict[str, Any]:
    """A search rule every id of tenant B's `World` matches (they start with the marker)."""
    return {"key": key, "values": ["iso"], "operator": "starts_with", "type": "attribute"}


EXPECTED: dict[tuple[str, str], Expect] = {
    ("GET", "/api/version"): Expect(PUBLIC, isolated=None, tenantless=True),
    # manager-level
    ("GET", f"{API}/status"): Expect(ALL, isolated=None),
    ("GET", f"{API}/workers"): Expect(ALL, isolated=None),
    ("GET", "/healthz"): Expect(PUBLIC, isolated=None, tenantless=True),
    ("GET", "/readyz"): Expect(PUBLIC, isolated=None, tenantless=True),
    ("GET", f"{API}/maintenance"): Expect(ALL, isolated=None),
    ("GET", f"{API}/provider/context"): Expect(ALL, isolated=None),
    ("GET", f"{API}/managers"): Expect(ALL, isolated=None),
    ("GET", f"{API}/brokers"): Expect(ALL, isolated=None),
    ("GET", f"{API}/db-nodes"): Expect(ALL, isolated=None),
    ("GET", f"{API}/cluster"): Expect(ALL, isolated=None),
    ("GET", f"{API}/license-check"): Expect(ALL, isolated=None),
    ("GET", f"{API}/config"): Expect(ALL, isolated=None),
    ("GET", f"{API}/config/{{name}}"): Expect(ALL, isolated=None),
    # blueprints
    ("GET", f"{API}/blueprints"): Expect(ALL),
    ("GET", f"{API}/blueprints/{{blueprint_id}}"): Expect(ALL, on_global=READ),
    ("PUT", f"{API}/blueprints/{{blueprint_id}}"): Expect(AUTHOR, isolated=None),
    ("DELETE", f"{API}/blueprints/{{blueprint_id}}"): Expect(AUTHOR, on_global=WRITE),
    ("PATCH", f"{API}/blueprints/{{blueprint_id}}"): Expect(
        AUTHOR, body={"labels": []}, on_global=WRITE
    ),
    ("GET", f"{API}/blueprints/{{blueprint_id}}/archive"): Expect(ALL, on_global=READ),
    ("PATCH", f"{API}/blueprints/{{blueprint_id}}/set-visibility"): Expect(
        AUTHOR, body={"visibility": "tenant"}, on_global=WRITE
    ),
    # deployments
    ("GET", f"{API}/deployments"): Expect(ALL),
    # (a global blueprint is used from every tenant: a deployment of it is the user's own)
    ("PUT", f"{API}/deployments/{{deployment_id}}"): Expect(
        OPERATE,
        isolated=None,
        body={},
        on_global=USE,
        global_body={"blueprint_id": "{blueprint_id}"},
        fresh_path=True,
    ),
    ("GET", f"{API}/deployments/{{deployment_id}}"): Expect(ALL, on_global=READ),
    ("DELETE", f"{API}/deployments/{{deployment_id}}"): Expect(OPERATE, on_global=WRITE),
    ("PATCH", f"{API}/deployments/{{deployment_id}}"): Expect(
        OPERATE, body={"labels": []}, on_global=WRITE
    ),
    ("GET", f"{API}/deployments/{{deployment_id}}/outputs"): Expect(ALL, on_global=READ),
    ("GET", f"{API}/deployments/{{deployment_id}}/capabilities"): Expect(ALL, on_global=READ),
    ("PATCH", f"{API}/deployments/{{deployment_id}}/set-visibility"): Expect(
        AUTHOR, body={"visibility": "tenant"}, on_global=WRITE
    ),
    # deployment updates
    ("GET", f"{API}/deployment-updates"): Expect(ALL),
    ("GET", f"{API}/deployment-updates/{{update_id}}"): Expect(ALL),
    ("POST", f"{API}/deployment-updates/{{deployment_id}}/update/initiate"): Expect(
        OPERATE, body={}, on_global=RUN
    ),
    ("POST", f"{API}/deployment-updates/{{update_id}}/update/finalize"): Expect(OPERATE),
    # nodes and node instances
    ("GET", f"{API}/nodes"): Expect(ALL),
    ("GET", f"{API}/node-instances"): Expect(ALL),
    ("GET", f"{API}/node-instances/{{instance_id}}"): Expect(ALL),
    ("PATCH", f"{API}/node-instances/{{instance_id}}"): Expect(
        OPERATE, body={"version": 1, "runtime_properties": {}}
    ),
    # executions and events
    ("GET", f"{API}/executions"): Expect(ALL),
    ("GET", f"{API}/executions/{{execution_id}}"): Expect(ALL),
    ("POST", f"{API}/executions"): Expect(
        OPERATE,
        isolated=None,
        body={},
        on_global=RUN,
        global_body={"deployment_id": "{deployment_id}", "workflow_id": "install"},
    ),
    ("POST", f"{API}/executions/{{execution_id}}"): Expect(OPERATE, body={"action": "cancel"}),
    ("PATCH", f"{API}/executions/{{execution_id}}"): Expect(OPERATE, body={"status": "terminated"}),
    ("GET", f"{API}/executions/{{execution_id}}/should-start"): Expect(ALL),
    ("DELETE", f"{API}/executions"): Expect(AUTHOR, isolated=None, body={"keep_last": 1000}),
    ("GET", f"{API}/events"): Expect(ALL),
    # live streams (an unknown or another tenant's id is a 404 before anything streams)
    ("GET", f"{API}/executions/{{execution_id}}/events/stream"): Expect(ALL),
    ("GET", f"{API}/deployments/{{deployment_id}}/events/stream"): Expect(ALL),
    # what operation code calls back with its execution token
    ("POST", f"{API}/events"): Expect(
        OPERATE, isolated=None, body={"logs": [{"message": {"text": "matrix"}}]}
    ),
    ("GET", f"{API}/operations"): Expect(ALL),
    ("GET", f"{API}/operations/{{operation_id}}"): Expect(ALL),
    ("PATCH", f"{API}/operations/{{operation_id}}"): Expect(OPERATE, body={"state": "started"}),
    ("POST", f"{API}/evaluate/functions"): Expect(
        OPERATE, isolated=None, body={"deployment_id": "mx-absent", "payload": {}}
    ),
    ("GET", "/resources/blueprints/{tenant_name}/{blueprint_id}/{path:path}"): Expect(ALL),
    ("GET", "/resources/deployments/{tenant_name}/{deployment_id}/{path:path}"): Expect(ALL),
    # plugins
    ("GET", f"{API}/plugins"): Expect(ALL),
    ("POST", f"{API}/plugins"): Expect(AUTHOR, isolated=None),
    ("GET", f"{API}/plugins/{{plugin_id}}"): Expect(ALL, on_global=READ),
    ("PUT", f"{API}/plugins/{{plugin_id}}"): Expect(
        AUTHOR, body={"state": "installed", "manager": "matrix"}, on_global=WRITE
    ),
    ("DELETE", f"{API}/plugins/{{plugin_id}}"): Expect(AUTHOR, on_global=WRITE),
    ("GET", f"{API}/plugins/{{plugin_id}}/archive"): Expect(ALL),
    ("GET", f"{API}/plugins/{{plugin_id}}/yaml"): Expect(ALL),
    # secrets
    ("GET", f"{API}/secrets"): Expect(ALL),
    ("PUT", f"{API}/secrets/{{key}}"): Expect(AUTHOR, isolated=None, body={}),
    ("GET", f"{API}/secrets/{{key}}"): Expect(ALL, on_global=READ),
    ("PATCH", f"{API}/secrets/{{key}}"): Expect(AUTHOR, body={"value": "changed"}, on_global=WRITE),
    ("PATCH", f"{API}/secrets/{{key}}/set-visibility"): Expect(
        AUTHOR, body={"visibility": "tenant"}, on_global=WRITE
    ),
    ("DELETE", f"{API}/secrets/{{key}}"): Expect(AUTHOR, on_global=WRITE),
    # searches: the lists' permissions; the rules would match tenant B's rows if they leaked
    ("POST", f"{API}/searches/blueprints"): Expect(ALL, body={"filter_rules": [_iso_rule("id")]}),
    ("POST", f"{API}/searches/deployments"): Expect(ALL, body={"filter_rules": [_iso_rule("id")]}),
    ("POST", f"{API}/searches/secrets"): Expect(ALL, body={"filter_rules": [_iso_rule("key")]}),
    ("POST", f"{API}/searches/workflows"): Expect(ALL, body={"filter_rules": []}),
    # label listings, deployment groups and execution groups
    ("GET", f"{API}/labels/{{resource}}"): Expect(ALL, isolated=None),
    ("GET", f"{API}/labels/{{resource}}/{{key}}"): Expect(ALL, isolated=None),
    ("GET", f"{API}/deployment-groups"): Expect(ALL),
    ("GET", f"{API}/deployment-groups/{{group_id}}"): Expect(ALL),
    ("PUT", f"{API}/deployment-groups/{{group_id}}"): Expect(OPERATE, isolated=None, body={}),
    ("PATCH", f"{API}/deployment-groups/{{group_id}}"): Expect(OPERATE, body={"add": {}}),
    ("DELETE", f"{API}/deployment-groups/{{group_id}}"): Expect(OPERATE),
    ("GET", f"{API}/execution-groups"): Expect(ALL),
    ("GET", f"{API}/execution-groups/{{group_id}}"): Expect(ALL),
    ("POST", f"{API}/execution-groups"): Expect(
        OPERATE, isolated=None, body={"deployment_group_id": "mx-absent", "workflow_id": "install"}
    ),
    ("POST", f"{API}/execution-groups/{{group_id}}"): Expect(OPERATE, body={"action": "cancel"}),
    ("PATCH", f"{API}/execution-groups/{{group_id}}"): Expect(OPERATE, body={"concurrency": 2}),
    # tokens: everyone manages their own, whatever the tenant
    ("POST", f"{API}/tokens"): Expect(ALL, isolated=None, tenantless=True, body={}),
    ("GET", f"{API}/tokens"): Expect(ALL, isolated=None, tenantless=True),
    ("GET", f"{API}/tokens/{{token_id}}"): Expect(ALL, isolated=None, tenantless=True),
    ("DELETE", f"{API}/tokens/{{token_id}}"): Expect(ALL, isolated=None, tenantless=True),
    # users
    ("GET", f"{API}/user"): Expect(ALL, isolated=None, tenantless=True),
    ("GET", f"{API}/users"): Expect(ADMIN, isolated=None),
    ("PUT", f"{API}/users"): Expect(ADMIN, isolated=None, body={}),
    ("GET", f"{API}/users/{{username}}"): Expect(ADMIN, isolated=None),
    ("POST", f"{API}/users/{{username}}"): Expect(ADMIN, isolated=None, body={}),
    ("DELETE", f"{API}/users/{{username}}"): Expect(ADMIN, isolated=None),
    ("POST", f"{API}/users/active/{{username}}"): Expect(ADMIN, isolated=None, body={}),
    # tenants
    ("GET", f"{API}/tenants"): Expect(ALL, isolated=None, tenantless=True),
    ("GET", f"{API}/tenants/{{tenant_name}}"): Expect(ALL - {VIEWER}, isolated=None),
    ("POST", f"{API}/tenants/{{tenant_name}}"): Expect(ADMIN, isolated=None, body={}),
    ("DELETE", f"{API}/tenants/{{tenant_name}}"): Expect(ADMIN, isolated=None),
    ("PUT", f"{API}/tenants/users"): Expect(ADMIN, isolated=None, body={}),
    ("PATCH", f"{API}/tenants/users"): Expect(ADMIN, isolated=None, body={}),
    ("DELETE", f"{API}/tenants/users"): Expect(ADMIN, isolated=None, body={}),
}

# An execution token acts as its execution's creator (here a tenant manager) in the
# execution's tenant: it may do what the manager may, except what would outlive the
# execution (API tokens) or reach beyond its tenant (the list of the manager's tenants).
NOT_FOR_EXECUTION_TOKENS = {
    ("POST", f"{API}/tokens"),
    ("GET", f"{API}/tokens"),
    ("GET", f"{API}/tokens/{{token_id}}"),
    ("DELETE", f"{API}/tokens/{{token_id}}"),
    ("GET", f"{API}/tenants"),
}
for _route, _expect in EXPECTED.items():
    if MANAGER in _expect.roles and _route not in NOT_FOR_EXECUTION_TOKENS:
        EXPECTED[_route] = replace(_expect, roles=_expect.roles | {EXECUTION})


def served_routes(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """Every (method, path) the app serves to users (not to workers), with its route."""
    routes = {}
    for context in _flat_routes(app):
        route = getattr(context, "original_route", context)
        if not isinstance(route, APIRoute) or not context.include_in_schema:
            continue
        if route.endpoint.__module__ == "manager.api.workers":
            continue
        for method in set(context.methods) - {"HEAD", "OPTIONS"}:
            routes[(method, context.path)] = route
    return routes


def _flat_routes(app: FastAPI) -> list[Any]:
    try:  # FastAPI >= 0.16x includes routers lazily; this walks them with their prefixes.
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def declared_permissions(route: APIRoute) -> list[str]:
    return [
        dep.call.permission  # type: ignore[union-attr]
        for dep in route.dependant.dependencies
        if hasattr(dep.call, "permission")
    ]


def test_every_route_has_an_expectation(app: FastAPI) -> None:
    served = set(served_routes(app))
    assert sorted(served - set(EXPECTED)) == [], "routes without an entry in EXPECTED"
    assert sorted(set(EXPECTED) - served) == [], "entries in EXPECTED for no route"


def test_every_route_declares_one_permission(app: FastAPI) -> None:
    for (method, path), route in served_routes(app).items():
        found = declared_permissions(route)
        if EXPECTED.get((method, path), Expect(ALL)).roles == PUBLIC:
            assert found == [], f"{method} {path} is public but declares {found}"
        else:
            assert len(found) == 1, f"{method} {path} declares permissions {found}"


@dataclass
class World:
    """Tenant A, where each role's user lives, and tenant B, whose ids A must never reach."""

    tenant_a: str
    tenant_b: str
    callers: dict[str, Caller]
    # Path parameter -> an id of tenant B's resource.
    other_ids: dict[str, str]
    marker: str
    # Tenant C, and path parameter -> an id of its global resources (seen from A).
    global_tenant: str
    global_ids: dict[str, str]


@pytest.fixture(scope="module")
def world(
    client: TestClient, database: Database, admin_credentials: tuple[str, str]
) -> Iterator[World]:
    marker = f"iso{uuid.uuid4().hex[:8]}"
    tenant_a, tenant_b = new_tenant(database), new_tenant(database, f"{marker}-tenant")
    callers = {role: new_user(client, database, tenant_a, role) for role in ALL - {SYS_ADMIN}}
    callers[SYS_ADMIN] = new_user(client, database, None, SYS_ADMIN, system_role="sys_admin")
    callers[SYS_ADMIN].tenant = tenant_a

    admin = Caller(client, tenant_a, admin_credentials)
    upload_yaml(admin, "bp-a")
    create_deployment(admin, "dep-a", "bp-a")
    _, token = start_execution_row(database, tenant_a, "dep-a", callers[MANAGER].auth[0])
    callers[EXECUTION] = execution_caller(client, token)

    other = admin.in_tenant(tenant_b)
    other_ids = {
        "blueprint_id": f"{marker}-bp",
        "deployment_id": f"{marker}-dep",
        "key": f"{marker}-secret",
    }
    upload_yaml(other, other_ids["blueprint_id"])
    other_ids["instance_id"] = create_deployment(
        other, other_ids["deployment_id"], other_ids["blueprint_id"]
    )
    assert other.put(f"/secrets/{other_ids['key']}", json={"value": "b"}).status_code == 200
    other_ids["group_id"] = f"{marker}-group"
    grouped = other.put(
        f"/deployment-groups/{other_ids['group_id']}",
        json={"deployment_ids": [other_ids["deployment_id"]]},
    )
    assert grouped.status_code == 200, grouped.text
    other_ids["execution_id"], _ = start_execution_row(
        database, tenant_b, other_ids["deployment_id"], admin_credentials[0]
    )
    other_ids["plugin_id"] = _plugin_row(database, tenant_b, f"{marker}-plugin")

    global_tenant = new_tenant(database)
    global_ids = _global_resources(admin.in_tenant(global_tenant), database, global_tenant)
    yield World(tenant_a, tenant_b, callers, other_ids, marker, global_tenant, global_ids)
    narrow_global_rows(database, list(global_ids.values()), [global_ids["key"]])


def _global_resources(admin: Caller, database: Database, tenant: str) -> dict[str, str]:
    """A global blueprint, deployment, secret and plugin of `tenant` (ids without the
    marker: every tenant's lists show them)."""
    ids = {name: unique(f"glob-{name.split('_')[0]}") for name in ("blueprint_id", "key")}
    ids["deployment_id"] = ids["blueprint_id"].replace("glob-blueprint", "glob-deployment")
    upload_yaml(admin, ids["blueprint_id"])
    create_deployment(admin, ids["deployment_id"], ids["blueprint_id"])
    for kind, name in (("blueprints", "blueprint_id"), ("deployments", "deployment_id")):
        shared = admin.patch(f"/{kind}/{ids[name]}/set-visibility", json={"visibility": "global"})
        assert shared.status_code == 200, shared.text
    created = admin.put(f"/secrets/{ids['key']}", json={"value": "g", "visibility": "global"})
    assert created.status_code == 200, created.text
    ids["plugin_id"] = _plugin_row(database, tenant, unique("glob-plugin"), visibility="global")
    return ids


def _plugin_row(
    database: Database, tenant: str, plugin_id: str, *, visibility: str = "tenant"
) -> str:
    """A plugin row of `tenant` (its files are never read: every call here is refused)."""
    with database.transaction() as session:
        session.add(
            Plugin(
                id=plugin_id,
                package_name=plugin_id,
                package_version="1.0",
                archive_name=f"{plugin_id}.wgn",
                tenant_pk=session.scalar(select(Tenant.pk).where(Tenant.name == tenant)),
                visibility=visibility,
            )
        )
    return plugin_id


def _call(
    caller: Caller, method: str, path: str, expect: Expect, ids: dict[str, str], body: Any = None
) -> Any:
    def fill(match: re.Match[str]) -> str:
        return ids.get(match[1]) or unique("mx-absent")

    url = re.sub(r"\{(\w+)\}", fill, path)
    body = expect.body if body is None else body
    if body is None:
        return caller.request(method, url)
    return caller.request(method, url, json=body)


def _allowed(response: Any, label: str) -> None:
    assert response.status_code not in (401, 403), f"{label}: {response.text}"
    assert response.status_code < 500, f"{label}: {response.text}"


def _forbidden(response: Any, label: str) -> None:
    assert response.status_code == 403, f"{label}: {response.status_code} {response.text}"
    assert response.json()["error_code"] == "forbidden_error"


MATRIX = [(method, path, role) for (method, path) in EXPECTED for role in ROLES]


def _ids(cases: list[tuple[str, str, str]]) -> list[str]:
    return [f"{method} {path.removeprefix(API)} as {role}" for method, path, role in cases]


IDS = _ids(MATRIX)


@pytest.mark.parametrize(("method", "path", "role"), MATRIX, ids=IDS)
def test_own_tenant(world: World, method: str, path: str, role: str) -> None:
    """Allowed roles get past authorization (ids are unknown, so mostly 404 or 400)."""
    expect = EXPECTED[(method, path)]
    response = _call(world.callers[role], method, path, expect, {})
    label = f"{role} {method} {path}"
    if role in expect.roles:
        _allowed(response, label)
    else:
        _forbidden(response, label)


# Tenant-scoped routes, with the roles that get past authorization there.
ISOLATED = [
    (method, path, role)
    for method, path, role in MATRIX
    if EXPECTED[(method, path)].isolated and role in EXPECTED[(method, path)].roles
]


@pytest.mark.parametrize(("method", "path", "role"), ISOLATED, ids=_ids(ISOLATED))
def test_other_tenants_ids(world: World, method: str, path: str, role: str) -> None:
    """Another tenant's resource does not exist for anyone acting in this tenant: 404."""
    expect = EXPECTED[(method, path)]
    response = _call(world.callers[role], method, path, expect, world.other_ids)
    if "{" in path:
        assert response.status_code == 404, f"{role} {method} {path}: {response.text}"
        assert response.json()["error_code"] == "not_found_error"
    else:
        assert response.status_code == 200, response.text
        assert world.marker not in response.text


@pytest.mark.parametrize(("method", "path", "role"), MATRIX, ids=IDS)
def test_tenant_header_of_a_tenant_one_is_not_in(
    world: World, method: str, path: str, role: str
) -> None:
    """Only system administrators and tenantless routes work in a tenant one is not in."""
    expect = EXPECTED[(method, path)]
    caller = world.callers[role].in_tenant(world.tenant_b)
    response = _call(caller, method, path, expect, {})
    label = f"{role} in a foreign tenant: {method} {path}"
    if expect.roles == PUBLIC or (
        role in expect.roles and (role == SYS_ADMIN or (expect.tenantless and role != EXECUTION))
    ):
        _allowed(response, label)
    else:
        _forbidden(response, label)


# Routes about another tenant's global resource, with the roles that get past authorization
# (execution tokens reach only their own deployment). A system administrator may change a
# global resource from anywhere; not tried here, where it would delete what later cases read.
GLOBAL = [
    (method, path, role)
    for method, path, role in MATRIX
    if EXPECTED[(method, path)].on_global
    and role in EXPECTED[(method, path)].roles - {EXECUTION}
    and not (EXPECTED[(method, path)].on_global == WRITE and role == SYS_ADMIN)
]


@pytest.mark.parametrize(("method", "path", "role"), GLOBAL, ids=_ids(GLOBAL))
def test_another_tenants_global_resources(world: World, method: str, path: str, role: str) -> None:
    """Global resources are read (and a global blueprint used) from every tenant, but only
    their own tenant changes them or runs a global deployment's workflows: 403 naming both."""
    expect = EXPECTED[(method, path)]
    ids = {} if expect.fresh_path else world.global_ids
    body = expect.global_body
    if isinstance(body, dict):
        body = {k: v.format(**world.global_ids) for k, v in body.items()}
    response = _call(world.callers[role], method, path, expect, ids, body)
    label = f"{role} {method} {path} of a global resource: {response.status_code} {response.text}"
    if expect.on_global == READ:
        assert response.status_code == 200, label
    elif expect.on_global == USE:
        assert response.status_code == 201, label
    else:
        _forbidden(response, label)
        message = response.json()["message"]
        name = world.global_ids["key" if "{key}" in path else _global_kind(path)]
        assert f"`{name}` from outside its tenant `{world.global_tenant}`" in message, label


def _global_kind(path: str) -> str:
    for kind in ("blueprint", "deployment", "plugin"):
        if f"/{kind}s" in path:
            return f"{kind}_id"
    if path.endswith("/executions") or "/update/initiate" in path:  # (run on it)
        return "deployment_id"
    raise AssertionError(f"no global resource in {path}")


def test_a_system_administrator_changes_global_resources_from_anywhere(world: World) -> None:
    """As for secrets before: a system administrator acting in another tenant gets past the
    own-tenant rule (tried where what follows it refuses, or changes nothing others read)."""
    admin = world.callers[SYS_ADMIN]
    ids = world.global_ids
    changed = admin.patch(f"/secrets/{ids['key']}", json={"value": "g"})
    assert changed.status_code == 200, changed.text
    reported = admin.put(
        f"/plugins/{ids['plugin_id']}", json={"state": "installed", "manager": "m"}
    )
    assert reported.status_code == 200, reported.text
    in_use = admin.delete(f"/blueprints/{ids['blueprint_id']}")
    assert in_use.status_code == 400 and "There exist deployments" in in_use.text, in_use.text
    run = admin.post(
        "/executions", json={"deployment_id": ids["deployment_id"], "workflow_id": "install"}
    )
    assert run.status_code == 403, run.text
