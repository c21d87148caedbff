"""The other built-in workflows and execution options, through real workers."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.engine.blueprints import SCALABLE_FILES, SLOW_FILES
from tests.engine.stack import Stack


def _deploy(stack: Stack, files: dict[str, str], markers: Path, **inputs: object) -> str:
    name = f"wf-{uuid.uuid4().hex[:6]}"
    stack.upload(name, files)
    stack.deploy(name, name, {"marker_dir": str(markers), **inputs})
    return name


def _by_node(stack: Stack, name: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for instance in stack.instances(name).values():
        found.setdefault(instance["node_id"], []).append(instance)
    return found


def test_scale_out_and_in(stack: Stack, tmp_path: Path) -> None:
    name = _deploy(stack, SCALABLE_FILES, tmp_path)
    assert stack.execute(name, "install")["status"] == "terminated"
    (db,) = _by_node(stack, name)["db"]
    (web,) = _by_node(stack, name)["web"]

    execution = stack.execute(name, "scale", scalable_entity_name="db", delta=2)
    assert execution["status"] == "terminated", execution["error"]
    dbs = _by_node(stack, name)["db"]
    assert len(dbs) == 3 and {d["state"] for d in dbs} == {"started"}
    new = {d["id"] for d in dbs} - {db["id"]}
    for added in new:
        assert (tmp_path / f"{added}.create").exists()
        assert (tmp_path / f"{web['id']}-{added}.establish").exists()  # intact source
    web_now = _by_node(stack, name)["web"][0]
    assert {r["target_id"] for r in web_now["relationships"]} == {d["id"] for d in dbs}

    execution = stack.execute(name, "scale", scalable_entity_name="db", delta=-2)
    assert execution["status"] == "terminated", execution["error"]
    remaining = _by_node(stack, name)["db"]
    assert len(remaining) == 1
    gone = {d["id"] for d in dbs} - {remaining[0]["id"]}
    for removed in gone:
        assert (tmp_path / f"{removed}.delete").exists()
        assert (tmp_path / f"{web['id']}-{removed}.unlink").exists()
    web_now = _by_node(stack, name)["web"][0]
    assert [r["target_id"] for r in web_now["relationships"]] == [remaining[0]["id"]]


def test_failed_scale_out_is_rolled_back(stack: Stack, tmp_path: Path) -> None:
    name = _deploy(stack, SCALABLE_FILES, tmp_path)
    assert stack.execute(name, "install")["status"] == "terminated"
    (tmp_path / "fail-create").touch()
    execution = stack.execute(name, "scale", scalable_entity_name="db", delta=1)
    assert execution["status"] == "failed"
    assert "create refused by the fail marker" in execution["error"]
    assert len(_by_node(stack, name)["db"]) == 1
    messages = [e["message"] for e in stack.events(execution["id"])]
    assert "Scale failed: rolling back the instances it added" in messages


def test_bad_requests_name_the_culprit(stack: Stack, tmp_path: Path) -> None:
    name = _deploy(stack, SLOW_FILES, tmp_path, seconds=0)
    response = stack.client.post(
        "/executions", json={"deployment_id": name, "workflow_id": "nosuch"}
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "nonexistent_workflow_error"
    assert "nosuch" in response.json()["message"]
    response = stack.client.post(
        "/executions",
        json={"deployment_id": name, "workflow_id": "install", "parameters": {"bogus": 1}},
    )
    assert response.status_code == 400 and "bogus" in response.json()["message"]


def test_dry_run_records_without_running(stack: Stack, tmp_path: Path) -> None:
    name = _deploy(stack, SLOW_FILES, tmp_path, seconds=0)
    response = stack.client.post(
        "/executions",
        json={"deployment_id": name, "workflow_id": "install", "dry_run": "true"},
    )
    execution = stack.wait(response.json()["id"])
    assert execution["status"] == "terminated" and execution["is_dry_run"]
    assert not list(tmp_path.glob("*.started.*"))
    messages = [e["message"] for e in stack.events(execution["id"])]
    assert "Task succeeded 'script_runner.tasks.run' (dry run)" in messages
    assert {i["state"] for i in stack.instances(name).values()} == {"uninitialized"}


def test_one_execution_at_a_time_unless_queued(stack: Stack, tmp_path: Path) -> None:
    name = _deploy(stack, SLOW_FILES, tmp_path, seconds=2)
    first = stack.execute(name, "install", wait=False)
    response = stack.client.post(
        "/executions", json={"deployment_id": name, "workflow_id": "uninstall"}
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "existing_running_execution_error"
    response = stack.client.post(
        "/executions", json={"deployment_id": name, "workflow_id": "uninstall", "queue": "true"}
    )
    assert response.status_code == 201 and response.json()["status"] == "queued"
    assert stack.wait(first["id"])["status"] == "terminated"
    queued = stack.wait(response.json()["id"], timeout=60)
    assert queued["status"] == "terminated", queued["error"]
    assert {i["state"] for i in stack.instances(name).values()} == {"deleted"}


def test_execute_operation_with_kwargs(stack: Stack, tmp_path: Path) -> None:
    name = _deploy(stack, SLOW_FILES, tmp_path, seconds=0)
    execution = stack.execute(
        name,
        "execute_operation",
        operation="cloudify.interfaces.lifecycle.create",
        node_ids=["second"],
        operation_kwargs={"SECONDS_": 0},
    )
    assert execution["status"] == "terminated", execution["error"]
    assert [p.name.split("_")[0] for p in tmp_path.glob("*.started.*")] == ["second"]
    execution = stack.execute(
        name, "execute_operation", operation="cloudify.interfaces.nonexistent.op"
    )
    assert execution["status"] == "terminated" and execution["total_operations"] == 0


def test_stop_start_heal_reinstall_on_the_tracing_topology(stack: Stack, tmp_path: Path) -> None:
    from tests.engine.blueprints import TRACING_FILES, read_trace

    name = f"ops-{uuid.uuid4().hex[:6]}"
    trace_file = tmp_path / "trace.txt"
    stack.upload(name, TRACING_FILES)
    stack.deploy(name, name, {"trace_file": str(trace_file)})
    assert stack.execute(name, "install")["status"] == "terminated"
    nodes = _by_node(stack, name)
    vm, app, dbs = nodes["vm"][0]["id"], nodes["app"][0]["id"], [d["id"] for d in nodes["db"]]

    def run(workflow: str, **params: object) -> list[tuple[float, str, str]]:
        trace_file.unlink(missing_ok=True)
        execution = stack.execute(name, workflow, **params)
        assert execution["status"] == "terminated", execution["error"]
        return read_trace(str(trace_file)) if trace_file.exists() else []

    stopped = run("stop")
    assert {who for _, who, _ in stopped} == {vm, app, *dbs}
    assert all(op.endswith("lifecycle.stop") for _, _, op in stopped)
    # targets first, as Cloudify's stop does
    assert max(t for t, who, _ in stopped if who != app) < min(
        t for t, who, _ in stopped if who == app
    )
    assert {i["state"] for i in stack.instances(name).values()} == {"started"}

    restarted = run("restart", node_ids=["db"])
    assert [op.rsplit(".", 1)[-1] for _, who, op in restarted if who == dbs[0]] == ["stop", "start"]
    assert {who for _, who, _ in restarted} == set(dbs)

    healed = run("heal", node_instance_id=app)
    assert [(who, op.rsplit(".", 1)[-1]) for _, who, op in healed] == [(vm, "heal"), (app, "heal")]

    reinstalled = run("reinstall", node_ids=["db"])
    ops = [(who, op.rsplit(".", 1)[-1]) for _, who, op in reinstalled]
    unlinks = [i for i, (who, op) in enumerate(ops) if op == "unlink"]
    establishes = [i for i, (who, op) in enumerate(ops) if op == "establish"]
    creates = [i for i, (who, op) in enumerate(ops) if op == "create" and who in dbs]
    assert len(unlinks) == 4 and len(establishes) == 4 and creates
    assert max(unlinks) < min(creates) < max(creates) < min(establishes)
    assert not [1 for who, op in ops if who == app]  # app itself untouched
    assert {i["state"] for i in stack.instances(name).values()} == {"started"}


def test_status_update_should_start_and_delete(stack: Stack, tmp_path: Path) -> None:
    name = _deploy(stack, SLOW_FILES, tmp_path, seconds=3)
    running = stack.execute(name, "install", wait=False)
    url = f"/executions/{running['id']}"
    response = stack.client.patch(url, json={"status": "failed", "error": "x"})
    assert response.status_code == 409 and "queued or running" in response.json()["message"]
    queued = stack.client.post(
        "/executions", json={"deployment_id": name, "workflow_id": "uninstall", "queue": "true"}
    ).json()
    assert stack.client.get(f"/executions/{queued['id']}/should-start").json() is False
    assert stack.wait(running["id"])["status"] == "terminated"
    stack.wait(queued["id"], timeout=60)
    before = stack.client.get("/executions", params={"deployment_id": name}).json()
    response = stack.client.request(
        "DELETE", "/executions", params={"deployment_id": name}, json={"keep_last": 1}
    )
    assert response.status_code == 200, response.text
    after = stack.client.get("/executions", params={"deployment_id": name}).json()
    deleted = response.json()["items"][0]["count"]
    assert deleted >= 1
    assert (
        after["metadata"]["pagination"]["total"]
        == before["metadata"]["pagination"]["total"] - deleted
    )
