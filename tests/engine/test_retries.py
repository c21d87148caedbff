"""Retry rules of lifecycle-traces.md §4 (S1–S4), through real workers and scripts."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.engine.blueprints import FLAKY_FILES
from tests.engine.stack import Stack

BLUEPRINT = "flaky"


@pytest.fixture(scope="module")
def flaky(stack: Stack) -> str:
    stack.upload(BLUEPRINT, FLAKY_FILES)
    return BLUEPRINT


def _run(stack: Stack, tmp_path: Path, fail_times: int, kind: str, retries: int):
    name = f"flaky-{uuid.uuid4().hex[:6]}"
    stack.deploy(
        BLUEPRINT, name, {"fail_times": fail_times, "kind": kind, "count_dir": str(tmp_path)}
    )
    execution = stack.execute(name, "install", task_retries=retries, task_retry_interval=0)
    states = {i["node_id"]: i["state"] for i in stack.instances(name).values()}
    messages = [e["message"] for e in stack.events(execution["id"])]
    return execution, states, messages


def test_plain_exceptions_retry_until_success(flaky: str, stack: Stack, tmp_path: Path) -> None:
    execution, states, messages = _run(stack, tmp_path, 2, "plain", 5)
    assert execution["status"] == "terminated", execution["error"]
    assert states == {"base": "started", "dependent": "started", "sibling": "started"}
    task = "'script_runner.tasks.run'"
    assert f"Task failed {task} -> boom (plain exception)" in messages
    assert f"Task failed {task} -> boom (plain exception) [retry 1/5]" in messages
    assert f"Task succeeded {task} [retry 2/5]" in messages
    assert any(
        "ATTEMPT 3 of cloudify.interfaces.lifecycle.create (retry_number=2 max_retries=5)" in m
        for m in messages
    )
    assert "Node instance started (nothing to do)" in messages


def test_non_recoverable_fails_at_once(flaky: str, stack: Stack, tmp_path: Path) -> None:
    execution, states, messages = _run(stack, tmp_path, 5, "nonrecoverable", 5)
    assert execution["status"] == "failed"
    # The node instance, the operation, the exception's type and message, then the task.
    assert re.fullmatch(
        r"Task failed: base_\w+: cloudify\.interfaces\.lifecycle\.create: "
        r"\w+: .*boom \(nonrecoverable\).* \(script_runner\.tasks\.run\)",
        execution["error"],
        re.DOTALL,
    ), execution["error"]
    assert states == {"base": "creating", "dependent": "uninitialized", "sibling": "started"}
    assert sum(m.startswith("Task failed") for m in messages) == 1
    assert messages[-1].startswith("'install' workflow execution failed: Task failed")


def test_retry_budget_runs_out(flaky: str, stack: Stack, tmp_path: Path) -> None:
    execution, states, messages = _run(stack, tmp_path, 9, "plain", 2)
    assert execution["status"] == "failed"
    assert [m for m in messages if m.startswith("Task failed")] == [
        "Task failed 'script_runner.tasks.run' -> boom (plain exception)",
        "Task failed 'script_runner.tasks.run' -> boom (plain exception) [retry 1/2]",
        "Task failed 'script_runner.tasks.run' -> boom (plain exception) [retry 2/2]",
    ]
    assert states["base"] == "creating" and states["dependent"] == "uninitialized"


def test_operation_retry_counts_against_the_budget(
    flaky: str, stack: Stack, tmp_path: Path
) -> None:
    execution, states, messages = _run(stack, tmp_path, 3, "retry", 1)
    assert execution["status"] == "failed"
    assert [m for m in messages if m.startswith("Task rescheduled")] == [
        "Task rescheduled 'script_runner.tasks.run' -> asked for retry [retry_after=0]",
        "Task rescheduled 'script_runner.tasks.run' -> asked for retry [retry_after=0] [retry 1/1]",
    ]


def test_recoverable_error_retries(flaky: str, stack: Stack, tmp_path: Path) -> None:
    execution, _, _ = _run(stack, tmp_path, 1, "recoverable", 3)
    assert execution["status"] == "terminated", execution["error"]
