"""A deployment used by a live component or shared resource of another deployment is not
deleted before it (Cloudify's `dependent_exists_error`), unless forced."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.api.uploads import upload

TARGET = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
capabilities:
  answer:
    value: 42
"""

USER = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  target: {type: string}
node_templates:
  shared:
    type: cloudify.nodes.SharedResource
    properties:
      resource_config:
        deployment:
          id: {get_input: target}
"""


def _deploy(admin: TestClient, blueprint: str, inputs: dict[str, str] | None = None) -> str:
    name = f"dep-{uuid.uuid4().hex[:8]}"
    assert upload(admin, name, {"blueprint.yaml": blueprint}).status_code == 201
    response = admin.put(
        f"/api/v3.1/deployments/{name}", json={"blueprint_id": name, "inputs": inputs or {}}
    )
    assert response.status_code == 201, response.text
    return name


def _set_instance(admin: TestClient, deployment: str, state: str, used: str) -> str:
    (instance,) = admin.get(
        "/api/v3.1/node-instances", params={"deployment_id": deployment}
    ).json()["items"]
    response = admin.patch(
        f"/api/v3.1/node-instances/{instance['id']}",
        json={
            "state": state,
            "runtime_properties": {"deployment": {"id": used}},
            "version": instance["version"],
        },
    )
    assert response.status_code == 200, response.text
    return str(instance["id"])


def test_a_used_deployment_waits_for_its_user(admin: TestClient) -> None:
    target = _deploy(admin, TARGET)
    user = _deploy(admin, USER, {"target": target})
    instance = _set_instance(admin, user, "started", target)

    refused = admin.delete(f"/api/v3.1/deployments/{target}")
    assert refused.status_code == 400
    body = refused.json()
    assert body["error_code"] == "dependent_exists_error"
    assert body["message"].startswith(
        f"Can't delete deployment {target} - the following existing installations depend on "
        f"it: {user}.{instance}"
    )

    # Being uninstalled, the user no longer holds it.
    _set_instance(admin, user, "deleting", target)
    assert admin.delete(f"/api/v3.1/deployments/{target}").status_code == 204


def test_force_deletes_a_used_deployment(admin: TestClient) -> None:
    target = _deploy(admin, TARGET)
    user = _deploy(admin, USER, {"target": target})
    _set_instance(admin, user, "started", target)
    response = admin.delete(f"/api/v3.1/deployments/{target}", params={"force": True})
    assert response.status_code == 204, response.text
