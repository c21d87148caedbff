"""Labels from blueprint YAML, `/labels/<resource>`, label filter rules, and deployment
groups (`/deployment-groups`, `deployment_settings.default_groups`), on the real database.

Everything lives in a tenant of this module's own, so listings see only what it made.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from manager.db.engine import Database
from tests.api.callers import SMALL_BLUEPRINT, Caller, new_tenant, new_user, upload_yaml
from tests.api.uploads import cfy_archive

LABELED_BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  region:
    default: eu-west
blueprint_labels:
  Team:
    values: [infra]
  tier:
    values: [db, cache]
labels:
  Env:
    values: [prod]
  region:
    values:
      - {get_input: region}
deployment_settings:
  default_groups: [defaults-a, defaults-b]
node_templates:
  vm:
    type: cloudify.nodes.Root
"""


@pytest.fixture(scope="module")
def admin(client: TestClient, database: Database, admin_credentials: tuple[str, str]) -> Caller:
    return Caller(client, new_tenant(database), admin_credentials)


def _labels(item: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((label["key"], label["value"]) for label in item["labels"])


def _deploy(caller: Caller, deployment_id: str, blueprint_id: str, **fields: Any) -> Any:
    response = caller.put(
        f"/deployments/{deployment_id}", json={"blueprint_id": blueprint_id, **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


def _group(caller: Caller, group_id: str) -> dict[str, Any]:
    response = caller.get(f"/deployment-groups/{group_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json()["items"])


@pytest.fixture(scope="module")
def labeled(admin: Caller) -> str:
    upload_yaml(admin, "labeled", LABELED_BLUEPRINT)
    upload_yaml(admin, "plain", SMALL_BLUEPRINT)
    _deploy(admin, "lab-1", "labeled", labels=[{"owner": "alice"}, {"Env": "prod"}])
    _deploy(admin, "lab-2", "labeled", inputs={"region": "us-east"})
    _deploy(admin, "plain-1", "plain", labels=[{"env": "dev"}])
    return "labeled"


# --- labels from the YAML ---------------------------------------------------------------------


def test_blueprint_labels_come_from_the_yaml(admin: Caller, labeled: str) -> None:
    blueprint = admin.get(f"/blueprints/{labeled}").json()
    assert _labels(blueprint) == [("team", "infra"), ("tier", "cache"), ("tier", "db")]
    assert {label["created_by"] for label in blueprint["labels"]} == {"admin"}


def test_labels_given_at_upload_replace_the_yaml_ones(admin: Caller) -> None:
    params = {
        "visibility": "tenant",
        "application_file_name": "blueprint.yaml",
        "labels": [{"key": "Given", "value": "yes"}],
    }
    response = admin.put(
        "/blueprints/labeled-given",
        data={"params": json.dumps(params)},
        files={
            "blueprint_archive": (
                "filename",
                cfy_archive({"blueprint.yaml": LABELED_BLUEPRINT}),
                "text/plain",
            )
        },
    )
    assert response.status_code == 201, response.text
    assert _labels(admin.get("/blueprints/labeled-given").json()) == [("given", "yes")]


def test_deployment_labels_are_the_request_ones_and_the_yaml_ones(
    admin: Caller, labeled: str
) -> None:
    first = admin.get("/deployments/lab-1").json()
    assert _labels(first) == [("env", "prod"), ("owner", "alice"), ("region", "eu-west")]
    second = admin.get("/deployments/lab-2").json()
    assert _labels(second) == [("env", "prod"), ("region", "us-east")]


def test_a_bad_label_is_refused_and_nothing_is_created(admin: Caller, labeled: str) -> None:
    for labels, culprit in (
        ([{"bad key": "x"}], "bad key"),
        ([{"csys-mine": "x"}], "csys-"),
        ([{"k": 'quo"te'}], "illegal characters"),
        ([{"k": "v"}, {"K": "v"}], "same label twice"),
    ):
        response = admin.put(
            "/deployments/never-made", json={"blueprint_id": labeled, "labels": labels}
        )
        assert response.status_code == 400, response.text
        assert culprit in response.json()["message"]
        assert response.json()["error_code"] == "bad_parameters_error"
    assert admin.get("/deployments/never-made").status_code == 404


def test_labels_are_replaced_as_cfy_labels_add_sends_them(admin: Caller, labeled: str) -> None:
    upload_yaml(admin, "relabeled-bp", SMALL_BLUEPRINT)
    _deploy(admin, "relabeled", "relabeled-bp", labels=[{"keep": "me"}, {"drop": "me"}])
    before = admin.get("/deployments/relabeled").json()["labels"]
    response = admin.patch(
        "/deployments/relabeled", json={"labels": [{"keep": "me"}, {"New": ["a", "b"]}]}
    )
    assert response.status_code == 200, response.text
    after = response.json()["labels"]
    assert _labels(response.json()) == [("keep", "me"), ("new", "a"), ("new", "b")]
    kept = [label for label in before if label["key"] == "keep"]
    assert [label for label in after if label["key"] == "keep"] == kept

    changed = admin.patch("/blueprints/relabeled-bp", json={"labels": [{"key": "a", "value": "b"}]})
    assert changed.status_code == 200, changed.text
    assert _labels(admin.get("/blueprints/relabeled-bp").json()) == [("a", "b")]

    other = admin.patch("/deployments/relabeled", json={"labels": [], "description": "x"})
    assert other.status_code == 400
    assert "`description`" in other.json()["message"]
    bad = admin.patch("/deployments/relabeled", json={"labels": [{"bad key": "v"}]})
    assert bad.status_code == 400 and "bad key" in bad.json()["message"]
    assert _labels(admin.get("/deployments/relabeled").json())[0] == ("keep", "me")
    assert admin.delete("/deployments/relabeled").status_code == 204


def test_label_keys_and_values_are_listed(admin: Caller, labeled: str) -> None:
    keys = admin.get("/labels/deployments")
    assert keys.status_code == 200, keys.text
    assert keys.json()["items"] == ["env", "owner", "region"]
    assert keys.json()["metadata"]["pagination"]["total"] == 3
    values = admin.get("/labels/deployments/env").json()["items"]
    assert values == ["dev", "prod"]
    assert admin.get("/labels/deployments/region").json()["items"] == ["eu-west", "us-east"]
    assert admin.get("/labels/deployments/ENV").json()["items"] == ["dev", "prod"]
    assert admin.get("/labels/deployments", params={"_search": "re"}).json()["items"] == ["region"]
    assert {"team", "tier"} <= set(admin.get("/labels/blueprints").json()["items"])
    assert admin.get("/labels/blueprints/tier").json()["items"] == ["cache", "db"]
    reserved = admin.get("/labels/deployments", params={"_reserved": "true"}).json()["items"]
    assert "csys-obj-parent" in reserved
    missing = admin.get("/labels/plugins")
    assert missing.status_code == 404
    assert "plugins" in missing.json()["message"]


def test_label_rules_find_the_yaml_labels(admin: Caller, labeled: str) -> None:
    rule = {"key": "region", "values": ["us-east"], "operator": "any_of", "type": "label"}
    assert _ids(admin.post("/searches/deployments", json={"filter_rules": [rule]})) == ["lab-2"]
    rule = {"key": "Env", "values": ["prod"], "operator": "any_of", "type": "label"}
    found = _ids(admin.post("/searches/deployments", json={"filter_rules": [rule]}))
    assert found == ["lab-1", "lab-2"]
    rule = {"key": "tier", "values": ["db"], "operator": "any_of", "type": "label"}
    assert _ids(admin.post("/searches/blueprints", json={"filter_rules": [rule]})) == ["labeled"]


# --- deployment groups ------------------------------------------------------------------------


def test_default_groups_are_created_and_joined(admin: Caller, labeled: str) -> None:
    for group_id in ("defaults-a", "defaults-b"):
        assert _group(admin, group_id)["deployment_ids"] == ["lab-1", "lab-2"]
    deployment = admin.get("/deployments/lab-1").json()
    assert deployment["deployment_groups"] == ["defaults-a", "defaults-b"]
    assert admin.get("/deployments/plain-1").json()["deployment_groups"] == []


def test_a_group_is_created_filled_and_read(admin: Caller, labeled: str) -> None:
    response = admin.put(
        "/deployment-groups/g1",
        json={
            "description": "first",
            "blueprint_id": "plain",
            "default_inputs": {"a": 1},
            "deployment_ids": ["plain-1"],
            "labels": [{"key": "Group", "value": "one"}],
        },
    )
    assert response.status_code == 200, response.text
    group = response.json()
    assert group["deployment_ids"] == ["plain-1"]
    assert group["default_blueprint_id"] == "plain"
    assert group["default_inputs"] == {"a": 1}
    assert group["description"] == "first"
    assert _labels(group) == [("group", "one")]
    assert group["tenant_name"] == admin.tenant
    # The group's labels are given to its deployments.
    assert ("group", "one") in _labels(admin.get("/deployments/plain-1").json())

    rule = {"key": "env", "values": ["prod"], "operator": "any_of", "type": "label"}
    added = admin.patch("/deployment-groups/g1", json={"add": {"filter_rules": [rule]}})
    assert added.status_code == 200, added.text
    assert added.json()["deployment_ids"] == ["lab-1", "lab-2", "plain-1"]
    assert ("group", "one") in _labels(admin.get("/deployments/lab-2").json())

    removed = admin.patch("/deployment-groups/g1", json={"remove": {"deployment_ids": ["lab-1"]}})
    assert removed.json()["deployment_ids"] == ["lab-2", "plain-1"]

    # Updating only attributes keeps the members; naming deployments sets them.
    kept = admin.put("/deployment-groups/g1", json={"description": "renamed"}).json()
    assert kept["deployment_ids"] == ["lab-2", "plain-1"]
    assert kept["description"] == "renamed"
    set_ = admin.put("/deployment-groups/g1", json={"deployments_from_group": "defaults-a"})
    assert set_.json()["deployment_ids"] == ["lab-1", "lab-2"]

    # Dropping a group label takes it off the members too.
    admin.put("/deployment-groups/g1", json={"labels": []})
    assert ("group", "one") not in _labels(admin.get("/deployments/lab-2").json())

    listed = admin.get("/deployment-groups", params={"_sort": "id"})
    assert [g["id"] for g in listed.json()["items"]] == ["defaults-a", "defaults-b", "g1"]
    in_group = admin.get("/deployments", params={"_group_id": "g1"})
    assert _ids(in_group) == ["lab-1", "lab-2"]


def test_new_deployments_of_the_default_blueprint(admin: Caller, labeled: str) -> None:
    admin.put("/deployment-groups/g-new", json={"blueprint_id": "plain"})
    response = admin.patch(
        "/deployment-groups/g-new",
        json={"add": {"new_deployments": [{}, {"id": "made-{count}", "labels": [{"k": "v"}]}]}},
    )
    assert response.status_code == 200, response.text
    ids = response.json()["deployment_ids"]
    assert len(ids) == 2
    assert "made-2" in ids
    assert [i for i in ids if i != "made-2"][0].startswith("g-new-")
    assert ("k", "v") in _labels(admin.get("/deployments/made-2").json())
    admin.put("/deployment-groups/g-no-blueprint", json={})
    nothing = admin.patch(
        "/deployment-groups/g-no-blueprint", json={"add": {"new_deployments": [{}]}}
    )
    assert "no default blueprint" in nothing.json()["message"]
    assert nothing.status_code == 409, nothing.text


def test_group_errors_name_the_culprit(admin: Caller, labeled: str) -> None:
    missing = admin.patch("/deployment-groups/g-err", json={"add": {"deployment_ids": ["x"]}})
    assert missing.status_code == 404
    admin.put("/deployment-groups/g-err", json={})
    unknown = admin.patch("/deployment-groups/g-err", json={"add": {"deployment_ids": ["nope"]}})
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["message"]
    bad_rule = admin.patch(
        "/deployment-groups/g-err",
        json={"add": {"filter_rules": [{"key": "k", "values": [], "operator": "x", "type": "y"}]}},
    )
    assert bad_rule.status_code == 400
    assert bad_rule.json()["error_code"] == "invalid_filter_rule"
    assert _group(admin, "g-err")["deployment_ids"] == []
    bad_id = admin.put("/deployment-groups/bad id", json={})
    assert bad_id.status_code == 400


def test_deleting_a_group_keeps_or_deletes_its_deployments(admin: Caller, labeled: str) -> None:
    upload_yaml(admin, "doomed-bp", SMALL_BLUEPRINT)
    _deploy(admin, "doomed-1", "doomed-bp")
    admin.put("/deployment-groups/g-keep", json={"deployment_ids": ["doomed-1"]})
    assert admin.delete("/deployment-groups/g-keep").status_code == 204
    assert admin.get("/deployment-groups/g-keep").status_code == 404
    assert admin.get("/deployments/doomed-1").status_code == 200

    admin.put("/deployment-groups/g-doom", json={"deployment_ids": ["doomed-1"]})
    response = admin.delete("/deployment-groups/g-doom", params={"delete_deployments": "true"})
    assert response.status_code == 204, response.text
    assert admin.get("/deployments/doomed-1").status_code == 404


def test_groups_stay_in_their_tenant(
    client: TestClient, database: Database, admin: Caller, labeled: str
) -> None:
    other = admin.in_tenant(new_tenant(database))
    assert other.get("/deployment-groups/g1").status_code == 404
    assert other.get("/deployment-groups").json()["items"] == []
    assert other.get("/labels/deployments").json()["items"] == []
    viewer = new_user(client, database, admin.tenant, "viewer")
    assert viewer.get("/deployment-groups/g1").status_code == 200
    refused = viewer.put(f"/deployment-groups/v-{uuid.uuid4().hex[:6]}", json={})
    assert refused.status_code == 403
    manager = new_user(client, database, admin.tenant, "manager")
    not_global = manager.put("/deployment-groups/g-global", json={"visibility": "global"})
    assert not_global.status_code == 403, not_global.text
    assert manager.get("/deployment-groups/g-global").status_code == 404


CAPABLE = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  endpoint: {default: none}
capabilities:
  endpoint:
    value: {get_input: endpoint}
  name:
    value: {get_sys: [deployment, id]}
node_templates:
  vm:
    type: cloudify.nodes.Root
"""


def test_get_group_capability_reads_the_group_members(admin: Caller, labeled: str) -> None:
    upload_yaml(admin, "capable", CAPABLE)
    _deploy(admin, "cap-1", "capable", inputs={"endpoint": "10.0.0.1"})
    _deploy(admin, "cap-2", "capable", inputs={"endpoint": "10.0.0.2"})
    admin.put("/deployment-groups/g-cap", json={"deployment_ids": ["cap-1", "cap-2"]})
    response = admin.post(
        "/evaluate/functions",
        json={
            "deployment_id": "plain-1",
            "payload": {
                "both": {"get_group_capability": ["g-cap", ["endpoint", "name"]]},
                "one": {"get_group_capability": ["g-cap", "endpoint"]},
            },
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["payload"] == {
        "both": {
            "cap-1": {"endpoint": "10.0.0.1", "name": "cap-1"},
            "cap-2": {"endpoint": "10.0.0.2", "name": "cap-2"},
        },
        "one": {"cap-1": {"endpoint": "10.0.0.1"}, "cap-2": {"endpoint": "10.0.0.2"}},
    }
    missing = admin.post(
        "/evaluate/functions",
        json={
            "deployment_id": "plain-1",
            "payload": {"x": {"get_group_capability": ["nope", "a"]}},
        },
    )
    assert missing.status_code == 400, missing.text
    assert "nope" in missing.json()["message"]
