"""Deployments over HTTP as `cfy deployments create/outputs/delete` use them."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.api.uploads import upload

TIERS = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  hosts:
    type: integer
    default: 2
  port:
    type: integer
    constraints:
      - in_range: [1, 65535]
  tier:
    type: string
    default: prod
    constraints:
      - valid_values: [prod, dev]
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties:
      agent_config: { install_method: none }
    capabilities:
      scalable:
        properties:
          default_instances: { get_input: hosts }
  web:
    type: cloudify.nodes.WebServer
    properties:
      port: { get_input: port }
    relationships:
      - { type: cloudify.relationships.contained_in, target: host }
      - { type: cloudify.relationships.connected_to, target: db }
  db:
    type: cloudify.nodes.DBMS
outputs:
  url:
    description: where the web tier listens
    value: { concat: ["http://", { get_attribute: [db, ip] }, ":", { get_input: port }] }
  tier:
    value: { get_input: tier }
capabilities:
  port:
    value: { get_input: port }
resource_tags:
  tier: { get_input: tier }
  team: web
"""


@pytest.fixture(scope="module")
def blueprint_id(admin: TestClient) -> str:
    name = f"tiers-{uuid.uuid4().hex[:8]}"
    body = upload(admin, name, {"blueprint.yaml": TIERS}).json()
    assert body["state"] == "uploaded", body["error"]
    return name


def create(admin: TestClient, blueprint_id: str, inputs: dict[str, object]):  # type: ignore[no-untyped-def]
    deployment_id = f"dep-{uuid.uuid4().hex[:8]}"
    response = admin.put(
        f"/api/v3.1/deployments/{deployment_id}",
        json={
            "blueprint_id": blueprint_id,
            "visibility": "tenant",
            "inputs": inputs,
            "display_name": deployment_id,
            "skip_plugins_validation": False,
            "runtime_only_evaluation": False,
            "labels": [{"env": "dev"}],
        },
    )
    return deployment_id, response


def test_create_with_string_inputs_as_the_cli_sends(admin: TestClient, blueprint_id: str) -> None:
    deployment_id, response = create(admin, blueprint_id, {"port": "8080", "hosts": "3"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == body["display_name"] == deployment_id
    assert body["inputs"] == {"hosts": 3, "port": 8080, "tier": "prod"}
    assert isinstance(body["workflows"], list)
    assert {w["name"] for w in body["workflows"]} >= {"install", "uninstall", "scale"}
    assert body["labels"][0]["key"] == "env" and body["labels"][0]["value"] == "dev"
    # The plan's, as written: operations get them evaluated (ctx.deployment.resource_tags).
    assert body["resource_tags"] == {"tier": {"get_input": "tier"}, "team": "web"}
    shown = admin.get(f"/api/v3.1/deployments/{deployment_id}").json()
    assert shown["resource_tags"] == body["resource_tags"]

    instances = admin.get(
        "/api/v3.1/node-instances",
        params={"deployment_id": deployment_id, "_sort": "node_id", "_size": "1000"},
    ).json()
    by_node: dict[str, list[dict]] = {}
    for item in instances["items"]:
        by_node.setdefault(item["node_id"], []).append(item)
    assert {k: len(v) for k, v in by_node.items()} == {"host": 3, "web": 3, "db": 1}
    hosts = {h["id"] for h in by_node["host"]}
    db_id = by_node["db"][0]["id"]
    for web in by_node["web"]:
        assert web["id"].startswith("web_") and len(web["id"]) == len("web_") + 6
        assert web["host_id"] in hosts
        targets = {(r["type"], r["target_id"]) for r in web["relationships"]}
        assert ("cloudify.relationships.connected_to", db_id) in targets
        assert web["state"] == "uninitialized" and web["version"] == 1
    assert instances["metadata"]["pagination"]["total"] == 7

    nodes = admin.get(
        "/api/v3.1/nodes", params={"deployment_id": deployment_id, "_instance_counts": "True"}
    ).json()
    web_node = next(n for n in nodes["items"] if n["id"] == "web")
    assert web_node["properties"]["port"] == 8080
    assert "cloudify.nodes.WebServer" in web_node["type_hierarchy"]
    assert next(n for n in nodes["items"] if n["id"] == "host")["number_of_instances"] == 3


def test_outputs_and_capabilities_are_evaluated_on_read(
    admin: TestClient, blueprint_id: str
) -> None:
    deployment_id, _ = create(admin, blueprint_id, {"port": 9000})
    definitions = admin.get(
        f"/api/v3.1/deployments/{deployment_id}",
        params={"all_sub_deployments": "True", "include_workdir": "False", "_include": "outputs"},
    ).json()
    assert list(definitions) == ["outputs"]
    assert definitions["outputs"]["url"]["description"] == "where the web tier listens"
    outputs = admin.get(f"/api/v3.1/deployments/{deployment_id}/outputs").json()
    assert outputs["deployment_id"] == deployment_id
    assert outputs["outputs"]["tier"] == "prod"
    # No `ip` yet: get_attribute gives None and concat writes it as Cloudify does.
    assert outputs["outputs"]["url"] == "http://None:9000"
    assert set(outputs["outputs"]) <= set(definitions["outputs"])
    capabilities = admin.get(f"/api/v3.1/deployments/{deployment_id}/capabilities").json()
    assert capabilities["capabilities"] == {"port": 9000}


@pytest.mark.parametrize(
    "inputs,code,words",
    [
        ({}, "missing_required_deployment_input_error", "'port'"),
        ({"port": 80, "colour": "red"}, "unknown_deployment_input_error", "'colour'"),
        ({"port": "eighty"}, "bad_parameters_error", "port"),
        ({"port": 70000}, "bad_parameters_error", "port"),
        ({"port": 80, "tier": "qa"}, "bad_parameters_error", "tier"),
    ],
)
def test_bad_inputs_are_refused_by_name(
    admin: TestClient, blueprint_id: str, inputs: dict[str, object], code: str, words: str
) -> None:
    _, response = create(admin, blueprint_id, inputs)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == code
    assert words in body["message"]


def test_create_env_execution_is_listable_like_cfy_expects(
    admin: TestClient, blueprint_id: str
) -> None:
    deployment_id, _ = create(admin, blueprint_id, {"port": 80})
    listed = admin.get(
        "/api/v3.1/executions",
        params={
            "_include_system_workflows": "False",
            "deployment_id": deployment_id,
            "workflow_id": "create_deployment_environment",
            "_sort": "-created_at",
        },
    ).json()
    assert [e["status"] for e in listed["items"]] == ["terminated"]


def test_duplicate_missing_blueprint_and_delete(admin: TestClient, blueprint_id: str) -> None:
    deployment_id, _ = create(admin, blueprint_id, {"port": 80})
    again = admin.put(
        f"/api/v3.1/deployments/{deployment_id}",
        json={"blueprint_id": blueprint_id, "inputs": {"port": 80}},
    )
    assert again.status_code == 409
    missing = admin.put("/api/v3.1/deployments/x1", json={"blueprint_id": "no-such-bp"})
    assert missing.status_code == 404
    assert "not found" in missing.json()["message"]

    assert (
        admin.delete(
            f"/api/v3.1/deployments/{deployment_id}",
            params={"force": "False", "delete_logs": "False", "recursive": "False"},
        ).status_code
        == 204
    )
    gone = admin.get(f"/api/v3.1/deployments/{deployment_id}")
    assert gone.status_code == 404
    assert (
        admin.get("/api/v3.1/node-instances", params={"deployment_id": deployment_id}).json()[
            "items"
        ]
        == []
    )


def test_node_instance_patch_follows_the_version_rule(admin: TestClient, blueprint_id: str) -> None:
    deployment_id, _ = create(admin, blueprint_id, {"port": 80})
    item = admin.get(
        "/api/v3.1/node-instances", params={"deployment_id": deployment_id, "node_id": "db"}
    ).json()["items"][0]
    url = f"/api/v3.1/node-instances/{item['id']}"
    # The CLI sends the version it read plus one.
    first = admin.patch(url, json={"version": 2, "runtime_properties": {"ip": "10.0.0.5"}})
    assert first.status_code == 200 and first.json()["version"] == 2
    # Plugin code sends the version it read.
    second = admin.patch(
        url, json={"version": 2, "runtime_properties": {"ip": "10.0.0.6"}, "state": "started"}
    )
    assert second.status_code == 200 and second.json()["version"] == 3
    stale = admin.patch(url, json={"version": 1, "runtime_properties": {}})
    assert stale.status_code == 409
    assert stale.json()["message"] == (
        "Node instance update conflict [current version=3, update version=1]"
    )
    outputs = admin.get(f"/api/v3.1/deployments/{deployment_id}/outputs").json()
    assert outputs["outputs"]["url"] == "http://10.0.0.6:80"
    live = admin.delete(f"/api/v3.1/deployments/{deployment_id}")
    assert live.status_code == 400
    assert live.json()["error_code"] == "dependent_exists_error"
    assert item["id"] in live.json()["message"]
    blueprint_delete = admin.delete(f"/api/v3.1/blueprints/{blueprint_id}")
    assert blueprint_delete.status_code == 400
    assert "There exist deployments" in blueprint_delete.json()["message"]
