"""Faults with real processes: killed workers, a restarted API, a flushed Redis, cancels."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from manager.broker import redis_client_url
from tests.conftest import BACKENDS
from tests.engine.blueprints import SLOW_FILES
from tests.engine.conftest import own_stack
from tests.engine.stack import Stack
from tests.support import wait_until


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    """A stack of its own: these tests kill its processes."""
    with own_stack(request.param, tmp_path, redis_url) as running:
        yield running


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    """Where the slow script leaves a file per start and end of an operation."""
    directory = tmp_path / "markers"
    directory.mkdir()
    return directory


def _deploy(stack: Stack, markers: Path, seconds: int) -> str:
    name = f"slow-{uuid.uuid4().hex[:6]}"
    stack.upload(name, SLOW_FILES)
    stack.deploy(name, name, {"marker_dir": str(markers), "seconds": seconds})
    return name


def _started(markers: Path, node: str) -> list[Path]:
    return sorted(markers.glob(f"{node}_*.started.*"))


def _finished_cleanly(stack: Stack, name: str, execution: dict) -> None:
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    states = {i["node_id"]: i["state"] for i in stack.instances(name).values()}
    assert states == {"first": "started", "second": "started"}


def test_worker_killed_mid_operation_is_retried(fresh: Stack, markers: Path) -> None:
    fresh.start()
    name = _deploy(fresh, markers, 4)
    execution = fresh.execute(name, "install", wait=False)
    wait_until(lambda: _started(markers, "first"), 30)
    fresh.kill(fresh.workers[0])
    fresh.start_worker("--concurrency", "2")
    execution = fresh.wait(execution["id"], timeout=120)
    _finished_cleanly(fresh, name, execution)
    assert len(_started(markers, "first")) == 2
    messages = [e["message"] for e in fresh.events(execution["id"])]
    assert any("Worker lost" in m for m in messages)


def test_api_restarted_mid_execution_loses_nothing(fresh: Stack, markers: Path) -> None:
    fresh.start()
    name = _deploy(fresh, markers, 3)
    execution = fresh.execute(name, "install", wait=False)
    wait_until(lambda: _started(markers, "first"), 30)
    assert fresh.api is not None
    fresh.kill(fresh.api)
    time.sleep(1)
    fresh.start_api()
    execution = fresh.wait(execution["id"], timeout=120)
    _finished_cleanly(fresh, name, execution)
    assert len(_started(markers, "first")) == 1  # the result waited for the API


def test_tasks_lost_by_redis_are_published_again(fresh: Stack, markers: Path) -> None:
    fresh.start(workers=0)
    name = _deploy(fresh, markers, 0)
    execution = fresh.execute(name, "install", wait=False)
    # Nobody consumed the message yet: flushing Redis loses it.
    redis.Redis.from_url(redis_client_url(fresh.redis_url)).flushdb()
    fresh.start_worker("--concurrency", "2")
    execution = fresh.wait(execution["id"], timeout=60)
    _finished_cleanly(fresh, name, execution)


def test_force_cancel_kills_the_running_operation(fresh: Stack, markers: Path) -> None:
    fresh.start()
    name = _deploy(fresh, markers, 60)
    execution = fresh.execute(name, "install", wait=False)
    wait_until(lambda: _started(markers, "first"), 30)
    response = fresh.client.post(f"/executions/{execution['id']}", json={"action": "force-cancel"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("force_cancelling", "cancelled")
    began = time.monotonic()
    execution = fresh.wait(execution["id"], timeout=30)
    assert execution["status"] == "cancelled"
    assert time.monotonic() - began < 15
    assert not list(markers.glob("*.done"))
    messages = [e["message"] for e in fresh.events(execution["id"])]
    assert messages[-1] == "'install' workflow execution cancelled"


def test_cancel_lets_running_work_finish_then_resume_completes(fresh: Stack, markers: Path) -> None:
    fresh.start()
    name = _deploy(fresh, markers, 2)
    execution = fresh.execute(name, "install", wait=False)
    wait_until(lambda: _started(markers, "first"), 30)
    fresh.client.post(f"/executions/{execution['id']}", json={"action": "cancel"})
    execution = fresh.wait(execution["id"], timeout=30)
    assert execution["status"] == "cancelled"
    assert list(markers.glob("first_*.done")) and not _started(markers, "second")
    response = fresh.client.post(f"/executions/{execution['id']}", json={"action": "resume"})
    assert response.status_code == 200, response.text
    execution = fresh.wait(execution["id"], timeout=60)
    _finished_cleanly(fresh, name, execution)


def test_resume_after_fixing_the_cause(fresh: Stack, markers: Path) -> None:
    fresh.start()
    (markers / "fail").touch()
    name = _deploy(fresh, markers, 0)
    execution = fresh.execute(name, "install")
    assert execution["status"] == "failed"
    assert "the fail marker is present" in execution["error"]
    (markers / "fail").unlink()
    response = fresh.client.post(f"/executions/{execution['id']}", json={"action": "resume"})
    assert response.status_code == 200, response.text
    execution = fresh.wait(execution["id"], timeout=60)
    _finished_cleanly(fresh, name, execution)
