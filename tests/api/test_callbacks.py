"""What operation code calls back with its execution token, in the shapes cloudify-common
7.0.5 sends (plugin-dispatch.md §7, §9; REST contract §11.5, §14): `POST /events`, its
operation's record, `POST /evaluate/functions`, and the file server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from manager.db import Operation
from manager.db.engine import Database
from manager.settings import Settings
from tests.api.callers import (
    Caller,
    create_deployment,
    execution_caller,
    start_execution_row,
    unique,
)
from tests.api.uploads import upload

TENANT = "default_tenant"
BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.Root
"""


@dataclass
class Plant:
    blueprint: str
    deployment: str
    instance: str
    execution: str
    caller: Caller  # the execution's token
    other_blueprint: str
    other_deployment: str
    other_execution: str
    admin: Caller


@pytest.fixture(scope="module")
def plant(
    admin: TestClient, client: TestClient, database: Database, admin_credentials: tuple[str, str]
) -> Plant:
    files = {
        "blueprint.yaml": BLUEPRINT,
        "files/hello.txt": "hello from the blueprint\n",
        "files/sub/more.txt": "more\n",
    }
    names = {}
    for key in ("own", "other"):
        blueprint, deployment = unique(f"cb-{key}"), unique(f"cb-{key}-dep")
        response = upload(admin, blueprint, files)
        assert response.status_code == 201, response.text
        caller = Caller(client, TENANT, admin_credentials)
        instance = create_deployment(caller, deployment, blueprint)
        execution, token = start_execution_row(
            database, TENANT, deployment, admin_credentials[0], status="started"
        )
        names[key] = (blueprint, deployment, instance, execution, token)
    blueprint, deployment, instance, execution, token = names["own"]
    return Plant(
        blueprint,
        deployment,
        instance,
        execution,
        execution_caller(client, token, TENANT),
        names["other"][0],
        names["other"][1],
        names["other"][3],
        Caller(client, TENANT, admin_credentials),
    )


def _events(plant: Plant, execution_id: str) -> list[dict]:  # type: ignore[type-arg]
    response = plant.admin.get(
        "/events",
        params={"execution_id": execution_id, "type": ["cloudify_event", "cloudify_log"]},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


# POST /events ---------------------------------------------------------------------------------


def test_a_log_record_as_cloudify_common_sends_it(plant: Plant) -> None:
    text = f"creating {uuid.uuid4().hex[:6]}"
    body = {
        "events": None,
        "logs": [
            {
                "context": {
                    "blueprint_id": plant.blueprint,
                    "deployment_id": plant.deployment,
                    "execution_id": plant.execution,
                    "workflow_id": "install",
                    "task_id": "t-1",
                    "task_name": "myplugin.tasks.create",
                    "task_queue": "cloudify.management",
                    "task_target": "cloudify.management",
                    "operation": "cloudify.interfaces.lifecycle.create",
                    "plugin": "myplugin",
                    "tenant": {"name": TENANT},
                    "node_id": plant.instance,
                    "node_name": "vm",
                },
                "logger": "ctx.t-1",
                "level": "warning",
                "message": {"text": text + "\x00"},
                "timestamp": "2024-03-25T15:51:30.440Z",
                "message_code": None,
                "type": "cloudify_log",
            }
        ],
        "agent_name": None,
        "manager_name": None,
        "execution_id": plant.execution,
    }
    response = plant.caller.post("/events", json=body)
    assert response.status_code == 201, response.text
    (stored,) = [e for e in _events(plant, plant.execution) if e["message"] == text]
    assert stored["type"] == "cloudify_log"
    assert (stored["level"], stored["logger"]) == ("warning", "ctx.t-1")
    assert stored["node_instance_id"] == plant.instance
    assert stored["node_name"] == "vm"
    assert stored["operation"] == "cloudify.interfaces.lifecycle.create"
    assert stored["deployment_id"] == plant.deployment
    assert stored["reported_timestamp"] == "2024-03-25T15:51:30.440Z"


def test_plugin_and_task_events_of_a_relationship_operation(plant: Plant) -> None:
    marker = uuid.uuid4().hex[:6]
    context = {
        "operation": "cloudify.interfaces.relationship_lifecycle.preconfigure",
        "source_id": "app_1",
        "source_name": "app",
        "target_id": plant.instance,
        "target_name": "vm",
    }
    causes = [{"message": "boom", "type": "RuntimeError", "traceback": "tb"}]
    body = {
        "events": [
            {
                "event_type": "plugin_event",
                "context": context,
                "message": {"text": f"sent {marker}", "arguments": None},
                "timestamp": "2024-03-25T15:51:31.000Z",
                "type": "cloudify_event",
            },
            {
                "event_type": "task_failed",
                "context": {**context, "task_error_causes": causes},
                "message": {"text": f"failed {marker}", "arguments": None},
                "type": "cloudify_event",
            },
        ],
        "logs": None,
    }
    # Without `execution_id`, the events belong to the token's execution.
    assert plant.caller.post("/events", json=body).status_code == 201
    stored = {e["message"]: e for e in _events(plant, plant.execution) if marker in e["message"]}
    sent, failed = stored[f"sent {marker}"], stored[f"failed {marker}"]
    assert sent["event_type"] == "plugin_event"
    assert (sent["source_id"], sent["target_id"]) == ("app_1", plant.instance)
    assert sent["node_instance_id"] is None
    assert failed["error_causes"] == causes


def test_empty_batch_is_204_and_unknown_executions_are_not_found(plant: Plant) -> None:
    assert plant.caller.post("/events", json={"events": [], "logs": None}).status_code == 204
    # The token acts as the execution's creator: another execution of the tenant is theirs.
    other = plant.caller.post(
        "/events",
        json={"logs": [{"message": {"text": "x"}}], "execution_id": plant.other_execution},
    )
    assert other.status_code == 201, other.text
    unknown = plant.caller.post(
        "/events",
        json={"logs": [{"message": {"text": "x"}}], "execution_id": str(uuid.uuid4())},
    )
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error_code"] == "not_found_error"
    # A user has no execution of their own to default to.
    nowhere = plant.admin.post("/events", json={"logs": [{"message": {"text": "x"}}]})
    assert nowhere.status_code == 400, nowhere.text


def test_events_need_a_credential(client: TestClient) -> None:
    response = client.post("/api/v3.1/events", json={"logs": []}, auth=None)
    assert response.status_code == 401


# the operation's own record ---------------------------------------------------------------


def _operation(database: Database, execution_id: str) -> str:
    operation_id = str(uuid.uuid4())
    with database.transaction() as session:
        session.add(
            Operation(
                id=operation_id,
                execution_id=execution_id,
                type="operation",
                name="cloudify.interfaces.lifecycle.create",
                node_instance_id="vm_x",
                state="running",
                attempt=2,
                max_retries=5,
                retry_interval=1.0,
                parameters={"task": "myplugin.tasks.create", "node_id": "vm"},
            )
        )
    return operation_id


def test_operation_is_read_in_cloudifys_shape_and_updates_are_acknowledged(
    plant: Plant, database: Database
) -> None:
    operation_id = _operation(database, plant.execution)
    read = plant.caller.get(f"/operations/{operation_id}")
    assert read.status_code == 200, read.text
    body = read.json()
    assert (body["id"], body["state"], body["type"]) == (
        operation_id,
        "started",
        "RemoteWorkflowTask",
    )
    assert body["name"] == "cloudify.interfaces.lifecycle.create"
    assert body["parameters"]["current_retries"] == 1
    assert body["parameters"]["total_retries"] == 5

    # cloudify-common's bookkeeping call: checked, acknowledged, not applied.
    update = {"state": "response-sent", "agent_name": None, "manager_name": None}
    acknowledged = plant.caller.patch(f"/operations/{operation_id}", json=update)
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["state"] == "started"
    bad = plant.caller.patch(f"/operations/{operation_id}", json={"state": "exploded"})
    assert bad.status_code == 400

    other = _operation(database, plant.other_execution)
    assert plant.caller.get(f"/operations/{other}").status_code == 200
    assert plant.caller.get(f"/operations/{uuid.uuid4()}").status_code == 404


# node instances: the version rule of runtime-property saves ----------------------------------


def test_a_stale_runtime_property_save_is_a_conflict(plant: Plant) -> None:
    read = plant.caller.get(
        f"/node-instances/{plant.instance}", params={"_evaluate_functions": "True"}
    )
    assert read.status_code == 200, read.text
    version = read.json()["version"]
    # What `ctx.instance.update()` sends: the version it read, the whole dict, the state.
    body = {"version": version, "runtime_properties": {"a": 1}, "state": read.json()["state"]}
    saved = plant.caller.patch(f"/node-instances/{plant.instance}", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == version + 1
    assert saved.json()["runtime_properties"] == {"a": 1}
    stale = plant.caller.patch(f"/node-instances/{plant.instance}", json=body)
    assert stale.status_code == 409, stale.text
    assert stale.json()["error_code"] == "conflict_error"


# POST /evaluate/functions ---------------------------------------------------------------------


def test_functions_are_evaluated_for_an_instance(plant: Plant) -> None:
    key = unique("cb-secret")
    assert plant.admin.put(f"/secrets/{key}", json={"value": "s3cret"}).status_code == 200
    instance = plant.caller.get(f"/node-instances/{plant.instance}").json()
    patched = plant.caller.patch(
        f"/node-instances/{plant.instance}",
        json={"version": instance["version"], "runtime_properties": {"ip": "10.0.0.7"}},
    )
    assert patched.status_code == 200, patched.text
    payload = {
        "password": {"get_secret": key},
        "address": {"get_attribute": ["SELF", "ip"]},
        "plain": [1, "two"],
    }
    response = plant.caller.post(
        "/evaluate/functions",
        json={
            "deployment_id": plant.deployment,
            "context": {"self": plant.instance},
            "payload": payload,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "deployment_id": plant.deployment,
        "payload": {"password": "s3cret", "address": "10.0.0.7", "plain": [1, "two"]},
    }
    other = plant.caller.post(
        "/evaluate/functions", json={"deployment_id": plant.other_deployment, "payload": {}}
    )
    assert other.status_code == 200
    unknown = plant.caller.post(
        "/evaluate/functions", json={"deployment_id": "no-such-deployment", "payload": {}}
    )
    assert unknown.status_code == 404


# the file server ------------------------------------------------------------------------------


def test_blueprint_files_are_served_to_the_execution_token(plant: Plant) -> None:
    # File-server requests carry only the execution token (no Tenant header).
    caller = Caller(plant.caller.client, None, None, dict(plant.caller.headers))
    base = f"/resources/blueprints/{TENANT}/{plant.blueprint}"
    hello = caller.get(f"{base}/files/hello.txt")
    assert hello.status_code == 200, hello.text
    assert hello.content == b"hello from the blueprint\n"
    index = caller.get(f"{base}/files")
    assert index.status_code == 200
    assert set(index.json()) == {"hello.txt", "sub/more.txt"}

    for path in (
        f"{base}/files/missing.txt",
        f"{base}/%2E%2E/%2E%2E/x",
        f"/resources/blueprints/other-tenant/{plant.blueprint}/files/hello.txt",
    ):
        response = caller.get(path)
        assert response.status_code == 404, (path, response.text)
    assert plant.caller.client.get(f"{base}/files/hello.txt", auth=None).status_code == 401


def test_deployment_files_are_looked_up_first(plant: Plant, settings: Settings) -> None:
    base = f"/resources/deployments/{TENANT}/{plant.deployment}"
    assert plant.caller.get(f"{base}/files/hello.txt").status_code == 404
    directory = settings.files_dir / "deployments" / TENANT / plant.deployment / "files"
    directory.mkdir(parents=True)
    (directory / "hello.txt").write_text("from the deployment\n")
    response = plant.caller.get(f"{base}/files/hello.txt")
    assert response.status_code == 200
    assert response.text == "from the deployment\n"
    other = f"/resources/deployments/{TENANT}/{plant.other_deployment}/files/hello.txt"
    assert plant.caller.get(other).status_code == 404
