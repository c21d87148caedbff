"""The core flow through cloudify-common 7.0.5's `cloudify_rest_client`, run by the CLI venv.

Usage: python rest_client_flow.py REQUEST.json  (keys: port, password, blueprint_dir,
blueprint_id, deployment_id, inputs). Prints one JSON object: what each step saw, for the
test to check. Imports only what that venv has (never the project's modules).
"""

from __future__ import annotations

import json
import time
import warnings

warnings.simplefilter("ignore")

from cloudify_rest_client import CloudifyClient  # noqa: E402
from cloudify_rest_client.exceptions import (  # noqa: E402
    CloudifyClientError,
    MissingRequiredDeploymentInputError,
    NoSuchIncludeFieldError,
    UserUnauthorizedError,
)
from rest_client_common import client_and_request  # noqa: E402

END_STATES = ("terminated", "failed", "cancelled")


def wait(client: CloudifyClient, execution_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        execution = client.executions.get(execution_id)
        if execution.status in END_STATES or time.monotonic() > deadline:
            return execution
        time.sleep(0.2)


def error_of(call) -> dict:
    try:
        call()
    except CloudifyClientError as exc:
        return {
            "class": type(exc).__name__,
            "status": exc.status_code,
            "error_code": exc.error_code,
            "message": str(exc),
        }
    return {"class": None}


def main() -> None:
    client, request = client_and_request()
    bp, dep = request["blueprint_id"], request["deployment_id"]
    seen: dict = {"version": client.manager.get_version()["version"]}
    seen["status"] = client.manager.get_status()["status"]

    blueprint = client.blueprints.upload(request["blueprint_dir"] + "/blueprint.yaml", bp)
    seen["blueprint_state"] = client.blueprints.get(bp).state
    upload_execution = blueprint.upload_execution or {}
    seen["upload_execution_id"] = bool(upload_execution.get("id"))
    listed = client.blueprints.list(_include=["id", "description"], sort="created_at")
    seen["blueprints"] = [b.id for b in listed]
    seen["blueprints_total"] = listed.metadata.pagination.total
    seen["bad_include"] = error_of(lambda: client.blueprints.list(_include=["no_such_field"]))

    seen["missing_input"] = error_of(lambda: client.deployments.create(bp, dep, inputs={}))
    client.deployments.create(bp, dep, inputs=request["inputs"])
    deployment = client.deployments.get(dep, _include=["id", "workflows", "inputs"])
    seen["workflows"] = sorted(w["name"] for w in deployment.workflows)
    seen["inputs"] = deployment.inputs

    execution = client.executions.start(dep, "install")
    seen["install_status"] = wait(client, execution.id).status
    events = client.events.list(
        execution_id=execution.id, include_logs=True, sort="reported_timestamp", _size=1000
    )
    seen["event_types"] = [e.get("event_type") for e in events if e["type"] == "cloudify_event"]
    seen["log_messages"] = [e["message"] for e in events if e["type"] == "cloudify_log"]
    seen["events_total"] = events.metadata.pagination.total
    page = client.events.list(execution_id=execution.id, include_logs=True, _offset=3, _size=2)
    seen["events_page"] = [len(page.items), page.metadata.pagination.offset]
    ranged = client.events.list(
        execution_id=execution.id, from_datetime="2000-01-01T00:00:00.000Z", include_logs=True
    )
    seen["events_in_range"] = len(ranged.items)

    seen["outputs"] = client.deployments.outputs.get(dep).outputs
    instances = client.node_instances.list(deployment_id=dep, _sort="node_id")
    seen["instances"] = {i.node_id: i.state for i in instances}
    app = next(i for i in instances if i.node_id == "app")
    props = dict(app.runtime_properties, from_client="yes")
    client.node_instances.update(app.id, runtime_properties=props, version=app.version)
    updated = client.node_instances.get(app.id)
    seen["app_version_step"] = updated.version - app.version
    seen["app_from_client"] = updated.runtime_properties.get("from_client")
    seen["stale_update"] = error_of(
        lambda: client.node_instances.update(app.id, runtime_properties={}, version=app.version - 1)
    )
    node = client.nodes.get(dep, "db")
    seen["db_node_port"] = node.properties["port"]

    executions = client.executions.list(deployment_id=dep, _include=["id", "workflow_id"])
    seen["workflows_run"] = sorted(e.workflow_id for e in executions)

    uninstall = client.executions.start(dep, "uninstall")
    seen["uninstall_status"] = wait(client, uninstall.id).status
    client.deployments.delete(dep)
    seen["deployment_gone"] = error_of(lambda: client.deployments.get(dep))
    client.blueprints.delete(bp)
    seen["blueprint_gone"] = error_of(lambda: client.blueprints.get(bp))

    bad = CloudifyClient(
        host="127.0.0.1",
        port=request["port"],
        username="admin",
        password="wrong",
        tenant="default_tenant",
    )
    seen["wrong_password"] = error_of(bad.blueprints.list)
    seen["classes"] = {
        "missing_input": MissingRequiredDeploymentInputError.__name__,
        "bad_include": NoSuchIncludeFieldError.__name__,
        "wrong_password": UserUnauthorizedError.__name__,
    }
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
