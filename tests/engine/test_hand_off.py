"""The hand-off: a report's answer can carry the next ready operation of its queue, claimed.

Here the test itself is the worker, speaking the worker protocol to a real API over HTTP,
with no Celery worker running until the end: what the API hands back, and what it publishes
instead, is visible in the database and in Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine

from manager.broker import redis_client_url
from tests.conftest import BACKENDS
from tests.engine.blueprints import SLOW_FILES
from tests.engine.conftest import operation_rows, own_stack, worker_http
from tests.engine.stack import Stack
from tests.support import wait_until


@pytest.fixture(params=BACKENDS)
def idle(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    """An API with no workers: the test claims and reports."""
    with own_stack(request.param, tmp_path, redis_url, workers=0) as running:
        yield running


class Worker:
    def __init__(self, stack: Stack) -> None:
        self.http = worker_http(stack)
        self.database = create_engine(stack.env["QD_DATABASE_URL"])

    def operations(self, execution_id: str) -> dict[str, dict[str, Any]]:
        """The execution's operations by instance node and name."""
        rows = operation_rows(self.database, execution_id)
        return {f"{r['node_instance_id'].rsplit('_', 1)[0]}.{r['name']}": r for r in rows}

    def claim(self, operation: dict[str, Any]) -> dict[str, Any]:
        """Claim an attempt as its message (a batch of one) would."""
        body = {"items": [[operation["id"], operation["attempt"]]], "worker": "w"}
        response = self.http.post("/claim", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def succeed(self, operation: dict[str, Any], *, take_next: bool) -> list[dict[str, Any]]:
        """Report the operation's success; returns what the answer hands over (with
        `take_next`, up to one operation)."""
        result = {
            "operation_id": operation["id"],
            "attempt": operation["attempt"],
            "outcome": {"status": "succeeded"},
        }
        body = {"results": [result], "want": 1 if take_next else 0, "worker": "test-worker"}
        response = self.http.post("/results", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["answers"][operation["id"]] == "applied", answer
        handed: list[dict[str, Any]] = answer["next"]
        return handed


CREATE = "cloudify.interfaces.lifecycle.create"


def _queued_messages(stack: Stack) -> int:
    client = redis.Redis.from_url(redis_client_url(stack.redis_url))
    return int(client.llen("central"))


def _install_first_claimed(
    stack: Stack, files: dict[str, str], tmp_path: Path, deploy: Any = None
) -> tuple[str, Worker, dict[str, Any], dict[str, Any]]:
    """Start an install of a first and a second node, and claim the first's create."""
    name = f"handoff-{uuid.uuid4().hex[:6]}"
    stack.upload(name, files)
    if deploy is None:
        stack.deploy(name, name, {"marker_dir": str(tmp_path), "seconds": 0})
    else:
        deploy(name)
    worker = Worker(stack)
    execution = stack.execute(name, "install", wait=False)
    first = worker.operations(execution["id"])[f"first.{CREATE}"]
    assert first["state"] == "queued"
    claimed = worker.claim(first)
    assert [c["operation_id"] for c in claimed["operations"]] == [first["id"]], claimed
    return name, worker, execution, first


def test_a_result_hands_over_the_next_operation_and_publishes_nothing(
    idle: Stack, tmp_path: Path
) -> None:
    name, worker, execution, first = _install_first_claimed(idle, SLOW_FILES, tmp_path)
    published = _queued_messages(idle)

    (handed,) = worker.succeed(first, take_next=True)

    second = worker.operations(execution["id"])[f"second.{CREATE}"]
    assert handed["operation_id"] == second["id"]
    assert handed["attempt"] == second["attempt"] == 1
    assert handed["instance"]["node_id"] == "second"
    assert (second["state"], second["worker"]) == ("running", "test-worker")
    assert _queued_messages(idle) == published  # handed over, not sent through Redis
    events = [e["event_type"] for e in idle.events(execution["id"])]
    assert events.count("task_started") == 2

    assert worker.succeed(second, take_next=True) == []  # nothing left to run
    final = idle.wait(execution["id"], timeout=30)
    assert final["status"] == "terminated", final["error"]
    states = {i["node_id"]: i["state"] for i in idle.instances(name).values()}
    assert states == {"first": "started", "second": "started"}


def test_without_next_the_ready_operation_goes_through_redis(idle: Stack, tmp_path: Path) -> None:
    _, worker, execution, first = _install_first_claimed(idle, SLOW_FILES, tmp_path)
    published = _queued_messages(idle)

    assert worker.succeed(first, take_next=False) == []

    second = worker.operations(execution["id"])[f"second.{CREATE}"]
    assert second["state"] == "queued"
    try:
        wait_until(lambda: _queued_messages(idle) == published + 1, 10)
    except TimeoutError:
        raise AssertionError((published, _queued_messages(idle), idle.redis_url)) from None
    idle.start_worker("--concurrency", "1")
    final = idle.wait(execution["id"], timeout=60)
    assert final["status"] == "terminated", final["error"]


UNRESOLVABLE = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  first:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/ok.sh
  second:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.depends_on, target: first}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/ok.sh
          inputs: {PASSWORD: {get_secret: short_lived}}
"""


@pytest.mark.parametrize("take_next", [True, False], ids=["handed-over", "claimed"])
def test_an_operation_whose_inputs_cannot_be_evaluated_fails_the_execution(
    idle: Stack, tmp_path: Path, take_next: bool
) -> None:
    """Evaluated when handed over or when claimed: either way it fails for good, naming why."""

    def deploy_then_delete_the_secret(name: str) -> None:
        secret = idle.client.put("/secrets/short_lived", json={"value": "s3cret"})
        assert secret.status_code in (200, 201), secret.text
        idle.deploy(name, name)
        assert idle.client.delete("/secrets/short_lived").status_code == 204

    files = {"blueprint.yaml": UNRESOLVABLE, "scripts/ok.sh": "#!/bin/bash\n"}
    _, worker, execution, first = _install_first_claimed(
        idle, files, tmp_path, deploy=deploy_then_delete_the_secret
    )

    assert worker.succeed(first, take_next=take_next) == []

    if not take_next:
        second = worker.operations(execution["id"])[f"second.{CREATE}"]
        claimed = worker.claim(second)
        assert claimed["operations"] == []
        assert "short_lived" in claimed["refused"][second["id"]], claimed
    final = idle.wait(execution["id"], timeout=30)
    assert final["status"] == "failed"
    assert "short_lived" in final["error"], final["error"]
    second = worker.operations(execution["id"])[f"second.{CREATE}"]
    assert second["state"] == "failed"
