"""Custom workflows (script and plugin function) through real workers: parameters, the
workflow API, graph mode, the lifecycle helpers, and a body whose worker dies."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS
from tests.engine.conftest import own_stack
from tests.engine.custom_workflows import files, read_touches
from tests.engine.stack import Stack
from tests.support import wait_until


def _deploy(stack: Stack, trace: Path) -> tuple[str, dict[str, str]]:
    """A fresh deployment; its instance ids by node."""
    name = f"cw-{uuid.uuid4().hex[:6]}"
    stack.upload(name, files())
    stack.deploy(name, name, {"trace_file": str(trace)})
    ids = {i["node_id"]: i["id"] for i in stack.instances(name).values()}
    return name, ids


def _start(stack: Stack, deployment: str, workflow: str, **parameters: object):
    return stack.client.post(
        "/executions",
        json={"deployment_id": deployment, "workflow_id": workflow, "parameters": parameters},
    )


def test_script_workflow_gets_typed_parameters_with_defaults(stack: Stack, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    name, ids = _deploy(stack, trace)

    wrong = _start(stack, name, "scripted", label="x", count="many")
    assert wrong.status_code == 400, wrong.text
    assert "count" in wrong.json()["message"]
    missing = _start(stack, name, "scripted")
    assert missing.status_code == 400 and "label" in missing.json()["message"]

    execution = stack.execute(name, "scripted", label="x")
    assert execution["status"] == "terminated", execution["error"]
    assert read_touches(trace) == [
        (ids["app"], "custom.touch", "x-0"),
        (ids["app"], "custom.touch", "x-1"),
        (ids["db"], "custom.touch", "x-0"),
        (ids["db"], "custom.touch", "x-1"),
    ]
    messages = [e["message"] for e in stack.events(execution["id"])]
    assert f"scripted done: scripted on {name}, local=False, count=2" in messages


def test_plugin_function_workflow(stack: Stack, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    name, ids = _deploy(stack, trace)
    execution = stack.execute(name, "touch_all", label="p")
    assert execution["status"] == "terminated", execution["error"]
    assert sorted(read_touches(trace)) == sorted(
        [(ids["app"], "custom.touch", "p"), (ids["db"], "custom.touch", "p")]
    )
    messages = [e["message"] for e in stack.events(execution["id"])]
    assert "touched 2 instances" in messages


def test_graph_mode_orders_tasks_by_dependency_and_sequence(stack: Stack, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    name, ids = _deploy(stack, trace)
    execution = stack.execute(name, "graph_demo")
    assert execution["status"] == "terminated", execution["error"]
    assert read_touches(trace) == [
        (ids["db"], "custom.touch", "one"),
        (ids["db"], "custom.touch", "two"),
        (ids["app"], "custom.touch", "three"),
    ]
    assert stack.instances(name)[ids["db"]]["state"] == "configuring"
    events = stack.events(execution["id"])
    assert any(e["message"] == "db is done" and e["node_instance_id"] == ids["db"] for e in events)


def test_a_failed_task_fails_the_graph_and_the_execution(stack: Stack, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    name, ids = _deploy(stack, trace)
    execution = stack.execute(name, "failing_graph")
    assert execution["status"] == "failed"
    assert "custom.nothing_like_this" in execution["error"]
    assert read_touches(trace) == [(ids["db"], "custom.touch", "before")]


def test_lifecycle_helpers_install_and_uninstall(stack: Stack, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    name, ids = _deploy(stack, trace)
    execution = stack.execute(name, "install_helpers")
    assert execution["status"] == "terminated", execution["error"]
    lifecycle = "cloudify.interfaces.lifecycle"
    assert read_touches(trace) == [
        (ids["db"], f"{lifecycle}.create", "-"),
        (ids["db"], f"{lifecycle}.configure", "-"),
        (ids["db"], f"{lifecycle}.start", "-"),
        (ids["app"], f"{lifecycle}.create", "-"),
        (ids["app"], f"{lifecycle}.configure", "-"),
        (ids["app"], f"{lifecycle}.start", "-"),
    ]
    assert {i["state"] for i in stack.instances(name).values()} == {"started"}

    trace.unlink()
    execution = stack.execute(name, "uninstall_helpers")
    assert execution["status"] == "terminated", execution["error"]
    assert read_touches(trace) == [
        (ids["app"], f"{lifecycle}.stop", "-"),
        (ids["app"], f"{lifecycle}.delete", "-"),
        (ids["db"], f"{lifecycle}.stop", "-"),
        (ids["db"], f"{lifecycle}.delete", "-"),
    ]
    assert {i["state"] for i in stack.instances(name).values()} == {"deleted"}


def test_execute_operation_helper_runs_by_dependency_order(stack: Stack, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    name, ids = _deploy(stack, trace)
    execution = stack.execute(name, "run_op", operation="custom.touch")
    assert execution["status"] == "terminated", execution["error"]
    assert read_touches(trace) == [
        (ids["db"], "custom.touch", "helper"),
        (ids["app"], "custom.touch", "helper"),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_body_whose_worker_dies_runs_again_without_repeating_finished_operations(
    backend: str, tmp_path: Path, redis_url: str
) -> None:
    trace, markers = tmp_path / "trace", tmp_path / "markers"
    markers.mkdir()
    (tmp_path / "stack").mkdir()
    with own_stack(backend, tmp_path / "stack", redis_url, workers=1) as stack:
        name, ids = _deploy(stack, trace)
        execution = stack.execute(name, "slow_flow", wait=False, marker_dir=str(markers))
        bodies = markers / "bodies"
        wait_until(bodies.exists, 120, what="the body to finish its first two operations")
        first_pid = int(bodies.read_text().split()[0])
        (victim,) = stack.workers
        # The machine dies: the worker and its pool, and the runner of the body (a process
        # group of its own, which would otherwise stop at its next request to its worker).
        Stack.kill(victim)
        os.kill(first_pid, signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{first_pid}").exists(), 30, what="the body gone")
        (markers / "go").touch()
        stack.start_worker("--concurrency", "2")
        ended = stack.wait(execution["id"], timeout=120)
        assert ended["status"] == "terminated", ended["error"]
        assert read_touches(trace) == [
            (ids["db"], "custom.touch", "first"),
            (ids["db"], "custom.touch", "second"),
            (ids["db"], "custom.touch", "third"),
        ]
        # The body ran twice (its second run found the first two operations finished).
        assert len(bodies.read_text().split()) == 2
        engine = create_engine(stack.env["QD_DATABASE_URL"])
        try:
            with engine.connect() as connection:
                body = connection.execute(
                    text(
                        "SELECT attempt, state FROM operations"
                        " WHERE execution_id = :e AND name = 'workflow'"
                    ),
                    {"e": execution["id"]},
                ).one()
        finally:
            engine.dispose()
        assert body.state == "succeeded" and body.attempt == 2


def test_cancel_stops_the_body_at_its_next_request(stack: Stack, tmp_path: Path) -> None:
    trace, markers = tmp_path / "trace", tmp_path / "markers"
    markers.mkdir()
    name, ids = _deploy(stack, trace)
    execution = stack.execute(name, "slow_flow", wait=False, marker_dir=str(markers))
    wait_until((markers / "bodies").exists, 120, what="the body to reach its wait")
    response = stack.client.post(f"/executions/{execution['id']}", json={"action": "cancel"})
    assert response.status_code == 200, response.text
    (markers / "go").touch()
    ended = stack.wait(execution["id"])
    assert ended["status"] == "cancelled"
    assert [label for _, _, label in read_touches(trace)] == ["first", "second"]
