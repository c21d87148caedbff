"""REST gaps the real `cfy` 7.0.5 exposed: timestamps in filters, `_all_tenants`, `_include`
on single reads, `/config`, secrets a deployment needs, blueprint deletion rules."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from manager.db.engine import Database
from manager.services import tenants as tenants_service
from tests.api.callers import (
    Caller,
    create_deployment,
    new_tenant,
    new_user,
    unique,
    upload_yaml,
)


@pytest.fixture(scope="module")
def admin_caller(client: TestClient, admin_credentials: tuple[str, str]) -> Caller:
    return Caller(client, "default_tenant", admin_credentials)


@pytest.fixture(scope="module")
def deployed(admin_caller: Caller) -> dict[str, str]:
    blueprint, deployment = unique("conv-bp"), unique("conv-dep")
    upload_yaml(admin_caller, blueprint)
    instance = create_deployment(admin_caller, deployment, blueprint)
    execution = admin_caller.get(
        "/executions", params={"deployment_id": deployment, "_include": "id"}
    ).json()["items"][0]["id"]
    return {
        "blueprint": blueprint,
        "deployment": deployment,
        "instance": instance,
        "execution": execution,
    }


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    assert set(body) == {"message", "error_code", "server_traceback"}
    return str(body["message"])


# --- timestamps in filters and ranges --------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    ["2000-01-01T00:00:00.000Z", "2000-01-01 00:00:00", "2000-01-01T00:00:00+00:00"],
)
def test_event_ranges_take_the_timestamps_clients_send(
    admin_caller: Caller, deployed: dict[str, str], start: str
) -> None:
    """`cfy events list --from "2000-01-01 00:00:00"` sends `_range=@timestamp,<from>,`."""
    params = [
        ("execution_id", deployed["execution"]),
        ("type", "cloudify_event"),
        ("type", "cloudify_log"),
        ("_range", f"@timestamp,{start},"),
    ]
    everything = admin_caller.get("/events", params=params[:3]).json()
    ranged = admin_caller.get("/events", params=params)
    assert ranged.status_code == 200, ranged.text
    assert (
        ranged.json()["metadata"]["pagination"]["total"]
        == (everything["metadata"]["pagination"]["total"])
    )
    future = admin_caller.get(
        "/events", params=[*params[:3], ("_range", "@timestamp,2999-01-01 00:00:00,")]
    )
    assert future.json()["items"] == []


def test_datetime_filters_on_lists(admin_caller: Caller, deployed: dict[str, str]) -> None:
    response = admin_caller.get(
        "/blueprints", params={"_range": "created_at,2000-01-01,2999-12-31T00:00:00Z"}
    )
    assert response.status_code == 200, response.text
    assert deployed["blueprint"] in [b["id"] for b in response.json()["items"]]
    bad = admin_caller.get("/events", params={"_range": "@timestamp,yesterday,"})
    assert "ISO 8601" in _error(bad, 400, "bad_parameters_error")


# --- `_all_tenants` ---------------------------------------------------------------------------


def test_all_tenants_lists_every_tenant_of_the_caller(
    client: TestClient, database: Database
) -> None:
    first, second, foreign = new_tenant(database), new_tenant(database), new_tenant(database)
    user = new_user(client, database, first, "manager")
    assert user.auth is not None
    with database.transaction() as session:
        tenants_service.add_user(session, second, user.auth[0], "viewer")
    upload_yaml(user, unique("mine-a"))
    upload_yaml(new_user(client, database, second, "manager"), unique("mine-b"))
    upload_yaml(new_user(client, database, foreign, "manager"), unique("theirs"))

    def tenants(**params: str) -> set[str]:
        response = user.get("/blueprints", params={"_include": "id,tenant_name", **params})
        assert response.status_code == 200, response.text
        return {item["tenant_name"] for item in response.json()["items"]}

    assert tenants(_all_tenants="False") == {first}
    assert tenants(_all_tenants="True") == {first, second}


def test_all_tenants_covers_secrets_too(client: TestClient, database: Database) -> None:
    first, second = new_tenant(database), new_tenant(database)
    user = new_user(client, database, first, "manager")
    assert user.auth is not None
    with database.transaction() as session:
        tenants_service.add_user(session, second, user.auth[0], "manager")
    keys = set()
    for tenant in (first, second):
        key = unique("key")
        keys.add(key)
        response = user.put(f"/secrets/{key}", json={"value": "v"}, headers={"Tenant": tenant})
        assert response.status_code in (200, 201), response.text

    def tenants(**params: str) -> set[str]:
        # (Only this test's secrets: other tests' global ones show in every tenant's list.)
        response = user.get("/secrets", params=params, headers={"Tenant": first})
        assert response.status_code == 200, response.text
        return {item["tenant_name"] for item in response.json()["items"] if item["key"] in keys}

    assert tenants() == {first}
    assert tenants(_all_tenants="True") == {first, second}


def test_execution_tokens_stay_in_their_tenant_with_all_tenants(
    admin_caller: Caller, deployed: dict[str, str], database: Database, client: TestClient
) -> None:
    from tests.api.callers import create_deployment, execution_caller, start_execution_row

    other = admin_caller.in_tenant(new_tenant(database))
    upload_yaml(other, "elsewhere")
    create_deployment(other, "elsewhere", "elsewhere")
    _, token = start_execution_row(database, "default_tenant", deployed["deployment"], "admin")
    scoped = execution_caller(client, token, "default_tenant")
    params = {"_all_tenants": "True", "_include": "id,tenant_name", "_size": "1000"}
    response = scoped.get("/deployments", params=params)
    assert response.status_code == 200, response.text
    assert {d["tenant_name"] for d in response.json()["items"]} == {"default_tenant"}
    everywhere = admin_caller.get("/deployments", params=params).json()["items"]
    assert other.tenant in {d["tenant_name"] for d in everywhere}


# --- `_include` on single reads ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/blueprints/{}", "blueprint"),
        ("/deployments/{}", "deployment"),
        ("/executions/{}", "execution"),
        ("/node-instances/{}", "instance"),
    ],
)
def test_single_reads_project_include(
    admin_caller: Caller, deployed: dict[str, str], path: str, key: str
) -> None:
    url = path.format(deployed[key])
    response = admin_caller.get(url, params={"_include": "id,created_by"})
    assert response.status_code == 200, response.text
    assert response.json() == {"id": deployed[key], "created_by": "admin"}
    bad = admin_caller.get(url, params={"_include": "id,no_such_field"})
    assert "no_such_field" in _error(bad, 400, "no_such_include_field_error")


# --- executions -------------------------------------------------------------------------------


def test_executions_filter_by_status_display(
    admin_caller: Caller, deployed: dict[str, str]
) -> None:
    """`terminated` is shown as `completed`, and filters by that name too."""
    for shown in ("completed", "terminated"):
        items = admin_caller.get(
            "/executions",
            params={
                "deployment_id": deployed["deployment"],
                "status_display": shown,
                "_include": "id,status,status_display",
            },
        ).json()["items"]
        assert items == [
            {"id": deployed["execution"], "status": "terminated", "status_display": "completed"}
        ]


# --- configuration ----------------------------------------------------------------------------


def test_config_lists_rows_by_scope(admin_caller: Caller) -> None:
    """`ctx.bootstrap_context` reads `GET /config?scope=workflow` as {name: value}."""
    response = admin_caller.get("/config", params={"scope": "workflow"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {row["name"] for row in body["items"]} == {
        "task_retries",
        "task_retry_interval",
        "subgraph_retries",
    }
    assert {row["scope"] for row in body["items"]} == {"workflow"}
    assert body["metadata"]["pagination"]["total"] == 3
    everything = admin_caller.get("/config").json()
    assert {row["scope"] for row in everything["items"]} == {"rest", "workflow"}
    one = admin_caller.get("/config/workflow.task_retries").json()
    assert one["name"] == "task_retries" and isinstance(one["value"], int)
    assert admin_caller.get("/config/task_retries").json() == one
    _error(admin_caller.get("/config/nope"), 404, "not_found_error")


# --- deployments ------------------------------------------------------------------------------

NEEDS_SECRETS = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  password:
    default: {get_secret: %(via_input)s}
node_types:
  t.Vm:
    derived_from: cloudify.nodes.Root
    properties:
      password: {}
      token: {}
node_templates:
  vm:
    type: t.Vm
    properties:
      password: {get_input: password}
      token: {get_secret: [%(direct)s, key]}
"""


def test_deployment_needs_the_secrets_it_names(admin_caller: Caller) -> None:
    via_input, direct = unique("in").replace("-", "_"), unique("op").replace("-", "_")
    blueprint = unique("secrets-bp")
    upload_yaml(admin_caller, blueprint, NEEDS_SECRETS % {"via_input": via_input, "direct": direct})
    refused = admin_caller.put(f"/deployments/{unique('d')}", json={"blueprint_id": blueprint})
    message = _error(refused, 400, "unknown_deployment_secret_error")
    names = ", ".join(sorted([via_input, direct]))
    assert message == f"Required secrets: [{names}] don't exist in this tenant"
    for key in (via_input, direct):
        assert admin_caller.put(f"/secrets/{key}", json={"value": "{}"}).status_code == 200
    created = admin_caller.put(f"/deployments/{unique('d')}", json={"blueprint_id": blueprint})
    assert created.status_code == 201, created.text


# --- blueprints -------------------------------------------------------------------------------


def test_an_imported_blueprint_is_in_use(admin_caller: Caller) -> None:
    base, importer = unique("base"), unique("importer")
    upload_yaml(admin_caller, base)
    upload_yaml(
        admin_caller,
        importer,
        "tosca_definitions_version: cloudify_dsl_1_4\n"
        f"imports:\n  - cloudify/types/types.yaml\n  - lib--blueprint:{base}\n",
    )
    plan = admin_caller.get(f"/blueprints/{importer}").json()["plan"]
    assert plan["imported_blueprints"] == [base]
    assert [n["id"] for n in plan["nodes"]] == ["lib--vm"]

    in_use = admin_caller.delete(f"/blueprints/{base}", params={"force": "False"})
    assert importer in _error(in_use, 405, "blueprint_in_use")
    assert admin_caller.delete(f"/blueprints/{base}", params={"force": "True"}).status_code == 204
    assert admin_caller.delete(f"/blueprints/{importer}").status_code == 204


def test_upload_labels_carry_their_creation(admin_caller: Caller) -> None:
    import json

    from tests.api.uploads import cfy_archive

    blueprint = unique("labelled")
    params = {
        "visibility": "tenant",
        "async_upload": True,
        "application_file_name": "blueprint.yaml",
        "labels": [{"key": "env", "value": "dev"}],
    }
    from tests.api.callers import SMALL_BLUEPRINT

    response = admin_caller.put(
        f"/blueprints/{blueprint}",
        data={"params": json.dumps(params)},
        files={
            "blueprint_archive": (
                "filename",
                cfy_archive({"blueprint.yaml": SMALL_BLUEPRINT}),
                "text/plain",
            )
        },
    )
    assert response.status_code == 201, response.text
    (label,) = admin_caller.get(f"/blueprints/{blueprint}").json()["labels"]
    assert (label["key"], label["value"], label["created_by"]) == ("env", "dev", "admin")
    assert label["created_at"].endswith("Z")


def test_set_visibility_only_widens(admin_caller: Caller) -> None:
    """`cfy blueprints set-visibility` / `cfy deployments set-visibility`."""
    blueprint, deployment = unique("vis-bp"), unique("vis-dep")
    upload_yaml(admin_caller, blueprint)
    created = admin_caller.put(
        f"/deployments/{deployment}",
        json={"blueprint_id": blueprint, "visibility": "private"},
    )
    assert created.status_code == 201, created.text

    wider = admin_caller.patch(
        f"/deployments/{deployment}/set-visibility", json={"visibility": "global"}
    )
    assert "can't be wider" in _error(wider, 400, "illegal_action_error")
    response = admin_caller.patch(
        f"/blueprints/{blueprint}/set-visibility", json={"visibility": "global"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["visibility"] == "global"
    response = admin_caller.patch(
        f"/deployments/{deployment}/set-visibility", json={"visibility": "tenant"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["visibility"] == "tenant"
    narrower = admin_caller.patch(
        f"/blueprints/{blueprint}/set-visibility", json={"visibility": "private"}
    )
    assert "wider visibility" in _error(narrower, 400, "illegal_action_error")
    _error(
        admin_caller.patch(f"/blueprints/{blueprint}/set-visibility", json={"visibility": "x"}),
        400,
        "bad_parameters_error",
    )


def test_event_pages_default_to_cloudify_size(admin_caller: Caller) -> None:
    assert admin_caller.get("/events").json()["metadata"]["pagination"]["size"] == 10000
    assert admin_caller.get("/blueprints").json()["metadata"]["pagination"]["size"] == 1000


# --- manager-level endpoints the CLI and client reach less often ------------------------------


def test_cluster_and_license_check(admin_caller: Caller, client: TestClient) -> None:
    """`GET /cluster` (`cfy profiles use`'s fallback when `/managers` is missing) and the
    client's `license.check()`: a single community manager, authenticated like the rest."""
    cluster = admin_caller.get("/cluster")
    assert cluster.status_code == 200, cluster.text
    assert cluster.json() == {"initialized": True, "error": None, "logs": []}
    license_check = admin_caller.get("/license-check")
    assert license_check.status_code == 200, license_check.text
    assert license_check.json() == {"status": "OK", "edition": "community"}
    for path in ("/cluster", "/license-check"):
        anonymous = client.get(f"/api/v3.1{path}", auth=None, headers={"Tenant": "default_tenant"})
        message = _error(anonymous, 401, "unauthorized_error")
        assert message == "No authentication info provided"
