"""Blueprints without node templates: their deployments are created like any other."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.api.uploads import upload

EMPTY = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  name:
    type: string
    default: nobody
outputs:
  greeting:
    value: { concat: ["hello ", { get_input: name }] }
capabilities:
  name:
    value: { get_input: name }
labels:
  kind:
    values: [empty]
"""


def test_a_blueprint_without_nodes_deploys(admin: TestClient) -> None:
    blueprint_id = f"empty-{uuid.uuid4().hex[:8]}"
    upload(admin, blueprint_id, {"blueprint.yaml": EMPTY})
    deployment_id = f"{blueprint_id}-d"
    response = admin.put(
        f"/api/v3.1/deployments/{deployment_id}",
        json={"blueprint_id": blueprint_id, "inputs": {"name": "world"}},
    )
    assert response.status_code == 201, response.text
    outputs = admin.get(f"/api/v3.1/deployments/{deployment_id}/outputs").json()
    assert outputs["outputs"] == {"greeting": "hello world"}
    capabilities = admin.get(f"/api/v3.1/deployments/{deployment_id}/capabilities").json()
    assert capabilities["capabilities"] == {"name": "world"}
    assert (
        admin.get("/api/v3.1/nodes", params={"deployment_id": deployment_id}).json()["items"] == []
    )
