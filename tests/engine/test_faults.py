"""Faults with real processes: killed workers, a restarted API, a flushed Redis, cancels."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, create_engine, text

from manager.broker import redis_client_url
from tests.conftest import BACKENDS
from tests.engine.blueprints import SCALABLE_FILES, SLOW_FILES
from tests.engine.conftest import own_stack
from tests.engine.stack import Stack
from tests.support import wait_until
from wire.queues import CENTRAL_QUEUE


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
    fresh.kill(fresh.api)  # (returns once the API is gone)
    fresh.start_api()  # (returns once the new one answers)
    execution = fresh.wait(execution["id"], timeout=120)
    _finished_cleanly(fresh, name, execution)
    assert len(_started(markers, "first")) == 1  # the result waited for the API


def test_a_result_held_through_a_long_api_outage_is_not_run_again(
    fresh: Stack, markers: Path
) -> None:
    """The worker finishes an operation while no API runs and keeps sending its result past
    the point where a doubling backoff would wait longer than the lease the new API grants
    on takeover: the result lands within that lease, and the operation runs once."""
    fresh.start()
    name = _deploy(fresh, markers, 1)
    execution = fresh.execute(name, "install", wait=False)
    wait_until(lambda: _started(markers, "first"), 30)
    assert fresh.api is not None
    fresh.kill(fresh.api)
    wait_until(lambda: list(markers.glob("first_*.done")), 30)
    worker_log = fresh.root / "worker0.log"

    def report_failures() -> int:
        return worker_log.read_text(errors="replace").count("POST /results failed")

    # (After six failures a backoff doubling from 0.2 s would wait 5 s, the lease is 3 s.)
    wait_until(lambda: report_failures() >= 6, 60)
    fresh.start_api()
    execution = fresh.wait(execution["id"], timeout=120)
    _finished_cleanly(fresh, name, execution)
    assert len(_started(markers, "first")) == 1, fresh.logs()


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
    # The operation sleeps 60 s: cancelled within the wait's 30 s, with no `.done` marker,
    # means it was killed rather than waited for.
    execution = fresh.wait(execution["id"], timeout=30)
    assert execution["status"] == "cancelled"
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


def _central_messages(stack: Stack) -> set[str]:
    """The operation ids carried by the messages waiting on the central queue."""
    with redis.Redis.from_url(redis_client_url(stack.redis_url)) as client:
        waiting = client.lrange(CENTRAL_QUEUE, 0, -1)
    carried = set()
    for raw in waiting:
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        carried |= {operation_id for operation_id, _ in body[0][0]}
    return carried


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_scale_out_ended_by_the_watchdog_publishes_its_rollback_at_once(
    tmp_path: Path, redis_url: str, backend: str
) -> None:
    """A scale-out whose failure the watchdog's `finish_stuck` finds (started, nothing
    queued or running, an operation failed) rolls back what it added: the rollback's
    operations are published with that commit, not after the redelivery window (set far
    beyond the test's patience here)."""
    with own_stack(backend, tmp_path, redis_url, workers=1, redelivery_seconds="600") as stack:
        name = f"scale-{uuid.uuid4().hex[:6]}"
        stack.upload(name, SCALABLE_FILES)
        stack.deploy(name, name, {"marker_dir": str(tmp_path)})
        assert stack.execute(name, "install")["status"] == "terminated"
        stack.kill(stack.workers[0])
        database = create_engine(stack.env["QD_DATABASE_URL"])
        try:
            execution = stack.execute(name, "scale", wait=False, scalable_entity_name="db", delta=1)
            wait_until(lambda: _queued(database, execution["id"]), 30)
            # The state `finish_stuck` is the safety net for: the result of the scale's
            # operation is in, nothing else of it is queued or running, and the execution
            # was not ended with that result.
            with database.begin() as connection:
                failed = connection.execute(
                    text(
                        "UPDATE operations SET state = 'failed', ended_at = CURRENT_TIMESTAMP"
                        " WHERE execution_id = :e AND state = 'queued'"
                    ),
                    {"e": execution["id"]},
                ).rowcount
            assert failed >= 1

            def rollback_published() -> bool:
                rollback = _queued(database, execution["id"])
                return bool(rollback) and rollback <= _central_messages(stack)

            wait_until(rollback_published, 30)
        finally:
            database.dispose()
        stack.start_worker("--concurrency", "2")
        ended = stack.wait(execution["id"], timeout=60)
        assert ended["status"] == "failed", ended["error"]
        nodes = [i["node_id"] for i in stack.instances(name).values()]
        assert sorted(nodes) == ["db", "web"]  # the added instance is gone again
        messages = [e["message"] for e in stack.events(execution["id"])]
        assert "Scale failed: rolling back the instances it added" in messages


def _queued(database: Engine, execution_id: str) -> set[str]:
    with database.connect() as connection:
        return set(
            connection.scalars(
                text("SELECT id FROM operations WHERE execution_id = :e AND state = 'queued'"),
                {"e": execution_id},
            )
        )
