"""Deployment updates through the real API and real workers: nodes and relationships added
and removed, a changed script reinstalled, new inputs, the skip flags, install_first, the
history, and the refusals."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.engine.blueprints import MARK_SCRIPT, SLOW_FILES
from tests.engine.stack import Stack
from tests.support import wait_until

HEAD = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  marker_dir: {type: string}
  greeting: {type: string, default: hello}
node_types:
  marked:
    derived_from: cloudify.nodes.Root
    properties:
      greeting: {default: ""}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/mark.sh
          inputs: {MARKER_DIR: {default: {get_input: marker_dir}}}
        delete:
          implementation: scripts/mark.sh
          inputs: {MARKER_DIR: {default: {get_input: marker_dir}}}
relationships:
  linked:
    derived_from: cloudify.relationships.connected_to
    source_interfaces:
      cloudify.interfaces.relationship_lifecycle:
        establish:
          implementation: scripts/mark.sh
          inputs: {MARKER_DIR: {default: {get_input: marker_dir}}}
        unlink:
          implementation: scripts/mark.sh
          inputs: {MARKER_DIR: {default: {get_input: marker_dir}}}
"""

# db, old and web (linked to both); web's configure writes which version of its script ran.
BEFORE = (
    HEAD
    + """
node_templates:
  db:
    type: marked
    properties: {greeting: {get_input: greeting}}
  old:
    type: marked
  web:
    type: marked
    relationships:
      - {type: linked, target: db}
      - {type: linked, target: old}
    interfaces:
      cloudify.interfaces.lifecycle:
        configure:
          implementation: scripts/configure-v1.sh
          inputs: {MARKER_DIR: {get_input: marker_dir}}
"""
)

# `old` is gone, `cache` is new and web links to it instead of to `old`.
AFTER = (
    HEAD
    + """
node_templates:
  db:
    type: marked
    properties: {greeting: {get_input: greeting}}
  cache:
    type: marked
  web:
    type: marked
    relationships:
      - {type: linked, target: db}
      - {type: linked, target: cache}
    interfaces:
      cloudify.interfaces.lifecycle:
        configure:
          implementation: scripts/configure-v1.sh
          inputs: {MARKER_DIR: {get_input: marker_dir}}
"""
)

# The same nodes as BEFORE, with web's configure pointing at the fixed script.
FIXED = BEFORE.replace("scripts/configure-v1.sh", "scripts/configure-v2.sh")


def _configure(version: str) -> str:
    return f"""#!/bin/bash
set -e
echo {version} >> "$MARKER_DIR/$(ctx instance id).configured"
"""


FILES = {
    "scripts/mark.sh": MARK_SCRIPT,
    "scripts/configure-v1.sh": _configure("v1"),
    "scripts/configure-v2.sh": _configure("v2"),
}


def _upload(stack: Stack, main: str) -> str:
    name = f"up-{uuid.uuid4().hex[:6]}"
    stack.upload(name, {"blueprint.yaml": main, **FILES})
    return name


def _installed(stack: Stack, markers: Path, main: str = BEFORE, **inputs: Any) -> str:
    name = _upload(stack, main)
    stack.deploy(name, name, {"marker_dir": str(markers), **inputs})
    execution = stack.execute(name, "install")
    assert execution["status"] == "terminated", execution["error"]
    return name


def _by_node(stack: Stack, deployment_id: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for instance in stack.instances(deployment_id).values():
        found.setdefault(instance["node_id"], []).append(instance)
    return found


def _update(stack: Stack, deployment_id: str, **body: Any) -> dict[str, Any]:
    """Start an update as `cfy deployments update` does, and wait for its execution."""
    response = stack.client.post(f"/deployment-updates/{deployment_id}/update/initiate", json=body)
    assert response.status_code == 200, response.text
    update = response.json()
    assert update["state"] == "updating", update
    execution = stack.wait(update["execution_id"])
    assert execution["workflow_id"] == "update"
    update["execution"] = execution
    return update


def _read(stack: Stack, update_id: str) -> dict[str, Any]:
    response = stack.client.get(f"/deployment-updates/{update_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_nodes_and_relationships_added_and_removed(stack: Stack, tmp_path: Path) -> None:
    name = _installed(stack, tmp_path)
    before = _by_node(stack, name)
    (web,) = before["web"]
    (old,) = before["old"]
    new_blueprint = _upload(stack, AFTER)

    update = _update(stack, name, blueprint_id=new_blueprint)
    assert update["execution"]["status"] == "terminated", update["execution"]["error"]

    after = _by_node(stack, name)
    assert set(after) == {"db", "cache", "web"}
    (cache,) = after["cache"]
    assert cache["state"] == "started"
    assert (tmp_path / f"{cache['id']}.create").exists()
    assert (tmp_path / f"{old['id']}.delete").exists()
    assert (tmp_path / f"{web['id']}-{old['id']}.unlink").exists()
    assert (tmp_path / f"{web['id']}-{cache['id']}.establish").exists()
    # web itself did not change: it stays, with its relationships to db and cache.
    assert not (tmp_path / f"{web['id']}.delete").exists()
    (web_now,) = after["web"]
    assert web_now["id"] == web["id"] and web_now["state"] == "started"
    assert [r["target_id"] for r in web_now["relationships"]] == [
        before["db"][0]["id"],
        cache["id"],
    ]
    nodes = stack.client.get("/nodes", params={"deployment_id": name}).json()["items"]
    assert {n["id"] for n in nodes} == {"db", "cache", "web"}
    deployment = stack.client.get(f"/deployments/{name}").json()
    assert deployment["blueprint_id"] == new_blueprint

    record = _read(stack, update["id"])
    assert record["state"] == "successful"
    assert record["old_blueprint_id"] == name and record["new_blueprint_id"] == new_blueprint
    assert record["execution_id"] == update["execution_id"]
    steps = {(s["action"], s["entity_type"], tuple(s["entity_id"])) for s in record["steps"]}
    assert ("add", "node", ("nodes", "cache")) in steps
    assert ("remove", "node", ("nodes", "old")) in steps
    assert ("add", "relationship", ("nodes", "web", "relationships", 1)) in steps
    assert ("remove", "relationship", ("nodes", "web", "relationships", 1)) in steps

    # The history lists it, newest first, filtered by deployment as `cfy` asks.
    history = stack.client.get(
        "/deployment-updates", params={"deployment_id": name, "_sort": "-created_at"}
    ).json()
    assert [u["id"] for u in history["items"]] == [update["id"]]
    assert history["metadata"]["pagination"]["total"] == 1


def test_a_fixed_script_runs_after_the_update(stack: Stack, tmp_path: Path) -> None:
    name = _installed(stack, tmp_path)
    (web,) = _by_node(stack, name)["web"]
    configured = tmp_path / f"{web['id']}.configured"
    assert configured.read_text().split() == ["v1"]

    update = _update(stack, name, blueprint_id=_upload(stack, FIXED))
    assert update["execution"]["status"] == "terminated", update["execution"]["error"]
    # web's configure changed: web was reinstalled (deleted, created) with the fixed script.
    assert configured.read_text().split() == ["v1", "v2"]
    assert (tmp_path / f"{web['id']}.delete").exists()
    (db,) = _by_node(stack, name)["db"]
    assert not (tmp_path / f"{db['id']}.delete").exists()
    record = _read(stack, update["id"])
    assert record["modified_entity_ids"]["operation"] == ["web"]

    # And any later run of that operation runs the fixed script too.
    execution = stack.execute(
        name,
        "execute_operation",
        operation="cloudify.interfaces.lifecycle.configure",
        node_ids=["web"],
    )
    assert execution["status"] == "terminated", execution["error"]
    assert configured.read_text().split() == ["v1", "v2", "v2"]


def test_new_inputs_change_properties_and_reinstall(stack: Stack, tmp_path: Path) -> None:
    name = _installed(stack, tmp_path)
    (db,) = _by_node(stack, name)["db"]

    update = _update(stack, name, inputs={"greeting": "bonjour"})
    assert update["execution"]["status"] == "terminated", update["execution"]["error"]
    record = _read(stack, update["id"])
    assert record["old_inputs"]["greeting"] == "hello"
    assert record["new_inputs"]["greeting"] == "bonjour"
    assert record["old_blueprint_id"] == record["new_blueprint_id"] == name
    assert {"action": "modify", "entity_type": "property"}.items() <= record["steps"][0].items()
    deployment = stack.client.get(f"/deployments/{name}").json()
    assert deployment["inputs"]["greeting"] == "bonjour"
    nodes = stack.client.get("/nodes", params={"deployment_id": name, "id": "db"}).json()
    assert nodes["items"][0]["properties"]["greeting"] == "bonjour"
    assert (tmp_path / f"{db['id']}.delete").exists()  # reinstalled
    assert _by_node(stack, name)["db"][0]["state"] == "started"

    refused = stack.client.post(
        f"/deployment-updates/{name}/update/initiate", json={"inputs": {"nosuch": 1}}
    )
    assert refused.status_code == 400, refused.text
    assert "nosuch" in refused.json()["message"]

    # The deployment can still be uninstalled and deleted; its updates go with it.
    assert stack.execute(name, "uninstall")["status"] == "terminated"
    deleted = stack.client.delete(f"/deployments/{name}")
    assert deleted.status_code in (200, 204), deleted.text
    assert stack.client.get(f"/deployment-updates/{update['id']}").status_code == 404


def test_skip_flags_leave_instances_alone(stack: Stack, tmp_path: Path) -> None:
    name = _installed(stack, tmp_path)
    before = _by_node(stack, name)
    (web,) = before["web"]
    (old,) = before["old"]
    (db,) = before["db"]
    changed = AFTER.replace("scripts/configure-v1.sh", "scripts/configure-v2.sh")

    update = _update(
        stack,
        name,
        blueprint_id=_upload(stack, changed),
        skip_install=True,
        skip_uninstall=True,
        skip_reinstall=True,
        reinstall_list=[db["id"]],
    )
    assert update["execution"]["status"] == "terminated", update["execution"]["error"]
    after = _by_node(stack, name)
    # What the caller listed is reinstalled all the same.
    assert (tmp_path / f"{db['id']}.delete").exists()
    assert after["db"][0]["state"] == "started"
    (cache,) = after["cache"]
    assert cache["state"] == "uninitialized"  # not installed
    assert not (tmp_path / f"{cache['id']}.create").exists()
    assert "old" not in after  # forgotten, but not uninstalled
    assert not (tmp_path / f"{old['id']}.delete").exists()
    assert not (tmp_path / f"{web['id']}.delete").exists()  # not reinstalled
    assert (tmp_path / f"{web['id']}.configured").read_text().split() == ["v1"]
    assert _read(stack, update["id"])["state"] == "successful"


def test_install_first_installs_before_removing(stack: Stack, tmp_path: Path) -> None:
    def order(update: dict[str, Any], created: str, deleted: str) -> list[str]:
        """Which of the two operations started first, from the execution's events."""
        seen = []
        for event in stack.events(update["execution_id"]):
            instance = event.get("node_instance_id")
            text = event.get("message") or ""
            if text.startswith("Creating node instance") and instance == created:
                seen.append("install")
            if text.startswith("Deleting node instance") and instance == deleted:
                seen.append("uninstall")
        return seen

    for install_first, expected in (
        (True, ["install", "uninstall"]),
        (False, ["uninstall", "install"]),
    ):
        markers = tmp_path / str(install_first)
        markers.mkdir()
        name = _installed(stack, markers)
        (old,) = _by_node(stack, name)["old"]
        update = _update(
            stack, name, blueprint_id=_upload(stack, AFTER), install_first=install_first
        )
        assert update["execution"]["status"] == "terminated", update["execution"]["error"]
        (cache,) = _by_node(stack, name)["cache"]
        assert order(update, cache["id"], old["id"]) == expected


def test_a_failed_update_is_failed_until_resumed(stack: Stack, tmp_path: Path) -> None:
    name = _installed(stack, tmp_path)
    (old,) = _by_node(stack, name)["old"]
    (tmp_path / "fail-create").touch()  # the new node's create fails
    update = _update(stack, name, blueprint_id=_upload(stack, AFTER))
    assert update["execution"]["status"] == "failed"
    assert "create refused by the fail marker" in update["execution"]["error"]
    assert _read(stack, update["id"])["state"] == "failed"
    assert "old" in _by_node(stack, name)  # the removed node is forgotten only on success

    (tmp_path / "fail-create").unlink()
    resumed = stack.client.post(f"/executions/{update['execution_id']}", json={"action": "resume"})
    assert resumed.status_code == 200, resumed.text
    assert _read(stack, update["id"])["state"] in ("updating", "successful")
    execution = stack.wait(update["execution_id"])
    assert execution["status"] == "terminated", execution["error"]
    assert _read(stack, update["id"])["state"] == "successful"
    after = _by_node(stack, name)
    assert "old" not in after and after["cache"][0]["state"] == "started"
    assert (tmp_path / f"{old['id']}.delete").exists()


def test_preview_changes_nothing(stack: Stack, tmp_path: Path) -> None:
    name = _installed(stack, tmp_path)
    response = stack.client.post(
        f"/deployment-updates/{name}/update/initiate",
        json={"blueprint_id": _upload(stack, AFTER), "preview": True},
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["state"] == "preview" and preview["execution_id"] is None
    assert {"action": "add", "entity_type": "node", "entity_id": ["nodes", "cache"]}.items() <= {
        k: v for s in preview["steps"] if s["entity_id"] == ["nodes", "cache"] for k, v in s.items()
    }.items()
    assert set(_by_node(stack, name)) == {"db", "old", "web"}
    listed = stack.client.get("/deployment-updates", params={"deployment_id": name}).json()
    assert listed["items"] == []


def test_refusals_name_the_culprit(stack: Stack, tmp_path: Path) -> None:
    name = _installed(stack, tmp_path)
    unknown = stack.client.post(
        "/deployment-updates/nosuch-deployment/update/initiate", json={"blueprint_id": name}
    )
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error_code"] == "not_found_error"
    assert "nosuch-deployment" in unknown.json()["message"]

    unknown = stack.client.post(
        f"/deployment-updates/{name}/update/initiate", json={"blueprint_id": "nosuch-blueprint"}
    )
    assert unknown.status_code == 404, unknown.text
    assert "nosuch-blueprint" in unknown.json()["message"]

    refused = stack.client.post(
        f"/deployment-updates/{name}/update/initiate", json={"reinstall_list": ["nosuch_1"]}
    )
    assert refused.status_code == 400 and "nosuch_1" in refused.json()["message"], refused.text

    unknown = stack.client.get("/deployment-updates/nosuch-update")
    assert unknown.status_code == 404 and "nosuch-update" in unknown.json()["message"]

    # A node may not change its type in place.
    retyped = _upload(
        stack, BEFORE.replace("  old:\n    type: marked", "  old:\n    type: cloudify.nodes.Root")
    )
    refused = stack.client.post(
        f"/deployment-updates/{name}/update/initiate", json={"blueprint_id": retyped}
    )
    assert refused.status_code == 400, refused.text
    assert "`old`" in refused.json()["message"]

    # A deployment with an execution running is not updated.
    busy = f"busy-{uuid.uuid4().hex[:6]}"
    stack.upload(busy, SLOW_FILES)
    stack.deploy(busy, busy, {"marker_dir": str(tmp_path), "seconds": 60})
    execution = stack.execute(busy, "install", wait=False)
    wait_until(lambda: list(tmp_path.glob("*.started.*")), 60, what="the slow install to start")
    refused = stack.client.post(f"/deployment-updates/{busy}/update/initiate", json={})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_code"] == "existing_running_execution_error"
    assert execution["id"] in refused.json()["message"]
    cancel = stack.client.post(f"/executions/{execution['id']}", json={"action": "kill"})
    assert cancel.status_code == 200, cancel.text
    stack.wait(execution["id"])
    assert (
        stack.client.get("/deployment-updates", params={"deployment_id": busy}).json()["items"]
        == []
    )
