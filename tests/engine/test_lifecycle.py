"""Install and uninstall through real workers, against the recorded Cloudify orders."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.engine.blueprints import TRACING_FILES, read_trace
from tests.engine.stack import Stack

INSTALL_SEQUENCE = [
    "cloudify.interfaces.validation.create",
    "cloudify.interfaces.lifecycle.precreate",
    "cloudify.interfaces.lifecycle.create",
    "cloudify.interfaces.lifecycle.configure",
    "cloudify.interfaces.lifecycle.start",
    "cloudify.interfaces.lifecycle.poststart",
    "cloudify.interfaces.monitoring.start",
]
UNINSTALL_SEQUENCE = [
    "cloudify.interfaces.validation.delete",
    "cloudify.interfaces.monitoring.stop",
    "cloudify.interfaces.lifecycle.prestop",
    "cloudify.interfaces.lifecycle.stop",
    "cloudify.interfaces.lifecycle.delete",
    "cloudify.interfaces.lifecycle.postdelete",
]


def _by_who(trace: list[tuple[float, str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for _, who, name in trace:
        found.setdefault(who, []).append(name)
    return found


def test_install_then_uninstall_follow_the_reference_order(stack: Stack, tmp_path: Path) -> None:
    name = f"trace-{uuid.uuid4().hex[:6]}"
    trace_file = str(tmp_path / "trace.txt")
    stack.upload(name, TRACING_FILES)
    stack.deploy(name, name, {"trace_file": trace_file})

    execution = stack.execute(name, "install")
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    assert execution["status_display"] == "completed"
    instances = stack.instances(name)
    assert {i["state"] for i in instances.values()} == {"started"}
    by_node = {i["node_id"]: [] for i in instances.values()}
    for instance in instances.values():
        by_node[instance["node_id"]].append(instance["id"])
    (vm,), (app,), dbs = by_node["vm"], by_node["app"], by_node["db"]
    assert len(dbs) == 2

    trace = read_trace(trace_file)
    steps = _by_who(trace)
    for who in (vm, app, *dbs):
        assert steps[who] == INSTALL_SEQUENCE, (who, steps[who])
    # app starts only after vm and both dbs ended, and its relationship groups run vm first.
    first_app = min(t for t, who, _ in trace if who == app)
    assert all(t < first_app for t, who, _ in trace if who in (vm, *dbs))
    relationship = [(t, who, op.rsplit(".", 1)[-1]) for t, who, op in trace if "->" in who]
    for phase in ("preconfigure", "postconfigure", "establish"):
        to_vm = [t for t, who, op in relationship if op == phase and who.endswith(vm)]
        to_db = [t for t, who, op in relationship if op == phase and not who.endswith(vm)]
        assert len(to_vm) == 2 and len(to_db) == 4, (phase, relationship)
        assert max(to_vm) < min(to_db)
    assert instances[app]["runtime_properties"]["ops"] == [
        "create",
        "precreate",
        "create",
        "configure",
        "start",
        "poststart",
        "start",
    ]
    outputs = stack.client.get(f"/deployments/{name}/outputs").json()["outputs"]
    assert outputs["app_ops"] == instances[app]["runtime_properties"]["ops"]
    assert outputs["db_ops_list"] == ["cloudify.interfaces.monitoring.start"] * 2

    events = stack.events(execution["id"])
    messages = [e["message"] for e in events]
    assert messages[0] == "Starting 'install' workflow execution"
    assert messages[-1] == "'install' workflow execution succeeded"
    assert "Creating node instance" in messages and "Node instance started" in messages
    assert any(m.startswith("Task succeeded 'script_runner.tasks.run'") for m in messages)
    assert execution["total_operations"] == execution["finished_operations"] == 3 * 7 + 7 + 18

    Path(trace_file).unlink()
    execution = stack.execute(name, "uninstall")
    assert execution["status"] == "terminated", execution["error"]
    steps = _by_who(read_trace(trace_file))
    for who in (vm, app, *dbs):
        assert steps[who] == UNINSTALL_SEQUENCE, (who, steps[who])
    trace = read_trace(trace_file)
    last_app = max(t for t, who, _ in trace if who == app)
    assert all(t > last_app for t, who, _ in trace if who in (vm, *dbs))
    unlink = [(t, who) for t, who, op in trace if op.endswith("unlink")]
    assert max(t for t, who in unlink if not who.endswith(vm)) < min(
        t for t, who in unlink if who.endswith(vm)
    )
    assert {i["state"] for i in stack.instances(name).values()} == {"deleted"}
