"""Batches: operations queued together travel in one message, are claimed in one request and
reported in one; a slow batch gives back what it has not started.

Most tests here are the worker themselves, speaking the batch routes of the worker protocol
to a real API that has no Celery worker: what it claims, announces, releases and publishes
is read in the database and in Redis. The last two run a real worker.
"""

from __future__ import annotations

import base64
import json
import math
import signal
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, text

from manager.api.workers import MOST_HANDED
from manager.broker import RUN_OPERATIONS, redis_client_url
from manager.orchestration.outbox import BATCH_SIZE
from tests.conftest import BACKENDS
from tests.engine.conftest import operation_rows, own_stack, worker_http
from tests.engine.stack import Stack
from tests.support import wait_until
from wire.queues import CENTRAL_QUEUE

CREATE = "cloudify.interfaces.lifecycle.create"
CONFIGURE = "cloudify.interfaces.lifecycle.configure"
INSTANCES = 10

# `count` independent instances, each with a create and a configure. With `hold_seconds`,
# the first operation to start holds its process until the test creates `gate` (or that
# long): only the tests with a real worker run the script.
BATCHED = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  marker_dir: {type: string}
  count: {type: integer}
  hold_seconds: {type: integer, default: 0}
node_templates:
  node:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties:
          default_instances: {get_input: count}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/step.sh
          inputs: &inputs
            MARKER_DIR: {get_input: marker_dir}
            HOLD_SECONDS: {get_input: hold_seconds}
        configure:
          implementation: scripts/step.sh
          inputs: *inputs
"""

STEP_SCRIPT = """#!/bin/bash
set -e
id=$(ctx instance id)
op=$(ctx operation name)
if [ "$HOLD_SECONDS" -gt 0 ] && mkdir "$MARKER_DIR/slow" 2>/dev/null; then
  echo "$id" > "$MARKER_DIR/slow/instance"
  for _ in $(seq "$((HOLD_SECONDS * 10))"); do
    [ -e "$MARKER_DIR/gate" ] && break
    sleep 0.1
  done
fi
touch "$MARKER_DIR/$id.${op##*.}"
"""

BATCHED_FILES = {"blueprint.yaml": BATCHED, "scripts/step.sh": STEP_SCRIPT}


@pytest.fixture(scope="module", params=BACKENDS)
def idle(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Stack]:
    """An API with no workers, shared by this module's tests, with the blueprint uploaded.
    The tests claim and never heartbeat: the lease outlives each of them."""
    root = tmp_path_factory.mktemp("batches")
    with own_stack(request.param, root, redis_url) as running:
        running.env["QD_LEASE_SECONDS"] = "60"
        running.start(workers=0)
        running.upload("batched", BATCHED_FILES)
        yield running


class BatchWorker:
    """The test as a worker: the batch routes, and the operations and events it leaves."""

    name = "test-worker"

    def __init__(self, stack: Stack) -> None:
        self.http = worker_http(stack)
        self.database = create_engine(stack.env["QD_DATABASE_URL"])

    def close(self) -> None:
        self.http.close()
        self.database.dispose()

    def claim(self, items: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Claim attempts (dicts of id and attempt) as one batch message would."""
        body = {"items": [[i["id"], i["attempt"]] for i in items], "worker": self.name}
        response = self.http.post("/claim", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def report(
        self,
        results: Iterable[dict[str, Any]] = (),
        *,
        started: Iterable[dict[str, Any]] = (),
        release: Iterable[dict[str, Any]] = (),
        want: int = 0,
    ) -> dict[str, Any]:
        body = {
            "worker": self.name,
            "results": list(results),
            "started": [[i["id"], i["attempt"]] for i in started],
            "release": [[i["id"], i["attempt"]] for i in release],
            "want": want,
        }
        response = self.http.post("/results", json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def operations(self, execution_id: str) -> dict[str, dict[str, Any]]:
        """The execution's operations by id, ordered by instance then name."""
        return {r["id"]: r for r in operation_rows(self.database, execution_id)}

    def queued_creates(self, execution_id: str) -> list[dict[str, Any]]:
        return [
            op
            for op in self.operations(execution_id).values()
            if op["name"] == CREATE and op["state"] == "queued"
        ]

    def task_events(self, execution_id: str) -> dict[str, list[str]]:
        """Each operation's task_started and task_succeeded events, in the order stored."""
        by_instance_and_name = {
            (op["node_instance_id"], op["name"]): op_id
            for op_id, op in self.operations(execution_id).items()
        }
        found: dict[str, list[str]] = {op_id: [] for op_id in by_instance_and_name.values()}
        with self.database.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT event_type, node_instance_id, operation FROM events"
                    " WHERE execution_id = :e"
                    " AND event_type IN ('task_started', 'task_succeeded') ORDER BY seq"
                ),
                {"e": execution_id},
            )
            for event_type, instance_id, name in rows:
                found[by_instance_and_name[(instance_id, name)]].append(event_type)
        return found


@pytest.fixture(scope="module")
def worker(idle: Stack) -> Iterator[BatchWorker]:
    """The test as the worker of `idle`."""
    speaker = BatchWorker(idle)
    yield speaker
    speaker.close()


def _attempt(context: dict[str, Any]) -> dict[str, Any]:
    return {"id": context["operation_id"], "attempt": context["attempt"]}


def _success(context: dict[str, Any]) -> dict[str, Any]:
    """A claimed operation's success (the API announces its start first if the claim did
    not)."""
    return {
        "operation_id": context["operation_id"],
        "attempt": context["attempt"],
        "outcome": {"status": "succeeded"},
    }


def _messages(stack: Stack, ids: Iterable[str]) -> list[tuple[str, list[tuple[str, int]]]]:
    """The messages waiting in Redis that carry any of operations `ids`: (task, attempts)."""
    wanted = set(ids)
    with redis.Redis.from_url(redis_client_url(stack.redis_url)) as client:
        waiting = client.lrange(CENTRAL_QUEUE, 0, -1)
    found = []
    for raw in waiting:
        envelope = json.loads(raw)
        task = envelope["headers"]["task"]
        args = json.loads(base64.b64decode(envelope["body"]))[0]
        items = [(i, a) for i, a in args[0]]
        if wanted & {i for i, _ in items}:
            found.append((task, items))
    return found


def _install(stack: Stack, markers: Path, count: int = INSTANCES, hold_seconds: int = 0) -> str:
    """Start installing a deployment of its own; returns the execution's id."""
    name = f"batch-{uuid.uuid4().hex[:6]}"
    inputs = {"marker_dir": str(markers), "count": count, "hold_seconds": hold_seconds}
    stack.deploy("batched", name, inputs)
    execution: dict[str, Any] = stack.execute(name, "install", wait=False)
    return str(execution["id"])


def _run_the_rest(worker: BatchWorker, execution_id: str, running: list[dict[str, Any]]) -> None:
    """Finish an execution as a worker would: report what runs, claim what is queued, run
    what the answers hand over, until nothing is left."""
    for _ in range(20):
        queued = [op for op in worker.operations(execution_id).values() if op["state"] == "queued"]
        if queued:
            claimed = worker.claim(queued)
            assert claimed["refused"] == {}
            running = [*running, *claimed["operations"]]
        if not running:
            return
        answer = worker.report([_success(c) for c in running], want=MOST_HANDED)
        assert set(answer["answers"].values()) == {"applied"}, answer
        running = answer["next"]
    raise AssertionError(f"execution {execution_id} did not finish")


def _completed(stack: Stack, worker: BatchWorker, execution_id: str) -> None:
    """Terminated, each operation started and succeeded once, in that order."""
    execution = stack.wait(execution_id, timeout=30)
    assert execution["status"] == "terminated", execution["error"]
    instances = stack.instances(execution["deployment_id"]).values()
    assert [i["state"] for i in instances] == ["started"] * INSTANCES
    events = worker.task_events(execution_id)
    assert len(events) == 2 * INSTANCES
    assert all(types == ["task_started", "task_succeeded"] for types in events.values()), events


def test_operations_queued_together_are_published_in_batches(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    execution_id = _install(idle, tmp_path)
    creates = worker.queued_creates(execution_id)
    assert len(creates) == INSTANCES
    ids = [op["id"] for op in creates]
    try:
        wait_until(lambda: sum(len(items) for _, items in _messages(idle, ids)) >= INSTANCES, 10)
    except TimeoutError:
        raise AssertionError(_messages(idle, ids)) from None
    messages = _messages(idle, ids)

    assert {task for task, _ in messages} == {RUN_OPERATIONS}
    assert len(messages) == math.ceil(INSTANCES / BATCH_SIZE)
    assert all(len(items) <= BATCH_SIZE for _, items in messages)
    carried = sorted(item for _, items in messages for item in items)
    assert carried == sorted((op_id, 1) for op_id in ids)  # each queued attempt, once
    cancelled = idle.client.post(f"/executions/{execution_id}", json={"action": "cancel"})
    assert cancelled.status_code == 200, cancelled.text
    assert idle.wait(execution_id, timeout=30)["status"] == "cancelled"


def test_a_batch_claim_claims_what_it_can_in_order_and_announces_the_first(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    execution_id = _install(idle, tmp_path)
    # (Given in the reverse of the ids' order, which is the order the rows are locked in.)
    creates = sorted(worker.queued_creates(execution_id), key=lambda op: op["id"], reverse=True)
    first, second, third, wrong_attempt, taken = creates[:5]
    single = worker.http.post("/claim", json={"items": [[taken["id"], 1]], "worker": "other"})
    assert single.status_code == 200 and single.json()["refused"] == {}, single.text
    missing = {"id": str(uuid.uuid4()), "attempt": 1}

    answer = worker.claim([first, {**wrong_attempt, "attempt": 2}, missing, second, taken, third])

    contexts = [(c["operation_id"], c["attempt"], c["announced"]) for c in answer["operations"]]
    assert contexts == [(first["id"], 1, True), (second["id"], 1, False), (third["id"], 1, False)]
    claimed = (first, second, third)
    assert set(answer["refused"]) == {wrong_attempt["id"], missing["id"], taken["id"]}
    for operation_id, reason in answer["refused"].items():
        assert f"`{operation_id}`" in reason, reason
    assert "attempt 2" in answer["refused"][wrong_attempt["id"]]
    assert "does not exist" in answer["refused"][missing["id"]]
    assert "running" in answer["refused"][taken["id"]]
    operations = worker.operations(execution_id)
    taken_by = {(operations[op["id"]]["state"], operations[op["id"]]["worker"]) for op in claimed}
    assert taken_by == {("running", worker.name)}
    assert operations[wrong_attempt["id"]]["state"] == "queued"
    assert operations[taken["id"]]["worker"] == "other"
    started = {op_id for op_id, types in worker.task_events(execution_id).items() if types}
    assert started == {first["id"], taken["id"]}  # the others are announced by the worker

    again = worker.claim(claimed)

    assert again["operations"] == []
    assert set(again["refused"]) == {first["id"], second["id"], third["id"]}
    assert all("running" in reason for reason in again["refused"].values()), again
    started = {op_id for op_id, types in worker.task_events(execution_id).items() if types}
    assert started == {first["id"], taken["id"]}
    _run_the_rest(worker, execution_id, [*answer["operations"], *single.json()["operations"]])
    _completed(idle, worker, execution_id)


def test_a_batch_of_several_executions_comes_back_in_order_with_each_ones_first_announced(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    """As when the watchdog publishes again what several executions lost: their rows are
    locked execution by execution, the answer still follows the message."""
    # (The execution whose rows are locked last comes first in the message.)
    later, earlier = sorted((_install(idle, tmp_path) for _ in range(2)), reverse=True)
    later_ops, earlier_ops = worker.queued_creates(later)[:2], worker.queued_creates(earlier)[:2]

    answer = worker.claim([later_ops[0], earlier_ops[0], later_ops[1], earlier_ops[1]])

    claimed = [(c["operation_id"], c["execution_id"], c["announced"]) for c in answer["operations"]]
    assert claimed == [
        (later_ops[0]["id"], later, True),
        (earlier_ops[0]["id"], earlier, True),
        (later_ops[1]["id"], later, False),
        (earlier_ops[1]["id"], earlier, False),
    ]
    assert answer["refused"] == {}
    for execution_id, first in ((later, later_ops[0]), (earlier, earlier_ops[0])):
        started = {op_id for op_id, types in worker.task_events(execution_id).items() if types}
        assert started == {first["id"]}
        running = [c for c in answer["operations"] if c["execution_id"] == execution_id]
        _run_the_rest(worker, execution_id, running)
        _completed(idle, worker, execution_id)


def test_a_batch_report_applies_results_once_and_hands_over_what_they_made_ready(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    execution_id = _install(idle, tmp_path)
    claimed = worker.claim(worker.queued_creates(execution_id)[:3])["operations"]
    assert [c["announced"] for c in claimed] == [True, False, False]
    created = [c["operation_id"] for c in claimed]
    results = [_success(c) for c in claimed]

    answer = worker.report(results, want=2)

    assert answer["answers"] == dict.fromkeys(created, "applied")
    events = worker.task_events(execution_id)
    assert [events[op_id] for op_id in created] == [["task_started", "task_succeeded"]] * 3
    operations = worker.operations(execution_id)
    instances = {operations[op_id]["node_instance_id"] for op_id in created}
    ready = {
        op_id
        for op_id, op in operations.items()
        if op["name"] == CONFIGURE and op["node_instance_id"] in instances
    }
    handed = [c["operation_id"] for c in answer["next"]]
    assert len(handed) == 2 and set(handed) < ready
    assert [c["announced"] for c in answer["next"]] == [True, False]
    for op_id in handed:
        assert (operations[op_id]["state"], operations[op_id]["worker"]) == ("running", worker.name)
    assert _messages(idle, handed) == []  # handed over, not sent through Redis
    (published,) = ready - set(handed)
    assert operations[published]["state"] == "queued"
    assert _messages(idle, [published]) == [(RUN_OPERATIONS, [(published, 1)])]  # (of one)

    assert worker.report(results, want=2) == {
        "answers": dict.fromkeys(created, "repeated"),
        "next": [],
    }
    stale = worker.report(
        [
            {**results[0], "attempt": 2},
            {**results[1], "operation_id": "none"},
            {**results[2], "execution_id": str(uuid.uuid4())},  # (not its execution)
        ]
    )
    assert set(stale["answers"]) == {created[0], "none", created[2]}
    assert f"`{created[0]}` attempt 2 is not running" in stale["answers"][created[0]]
    assert "does not exist" in stale["answers"]["none"]
    assert "does not exist" in stale["answers"][created[2]]
    assert worker.task_events(execution_id) == events

    _run_the_rest(worker, execution_id, answer["next"])
    _completed(idle, worker, execution_id)


def test_a_hand_over_makes_up_its_number_with_operations_already_published(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    execution_id = _install(idle, tmp_path)
    creates = worker.queued_creates(execution_id)
    (claimed,) = worker.claim(creates[:1])["operations"]
    (configure,) = (
        op_id
        for op_id, op in worker.operations(execution_id).items()
        if op["name"] == CONFIGURE and op["node_instance_id"] == creates[0]["node_instance_id"]
    )

    answer = worker.report([_success(claimed)], want=3)

    # What the result made ready first, then the oldest of those waiting in Redis.
    waiting = sorted(op["id"] for op in creates[1:])
    handed = [(c["operation_id"], c["announced"]) for c in answer["next"]]
    assert handed == [(configure, True), (waiting[0], False), (waiting[1], False)]
    operations = worker.operations(execution_id)
    assert {operations[op_id]["worker"] for op_id, _ in handed} == {worker.name}
    # Their batch message is refused for them, claimed for the others.
    message = worker.claim({"id": op_id, "attempt": 1} for op_id in waiting)
    assert set(message["refused"]) == set(waiting[:2])
    assert [c["operation_id"] for c in message["operations"]] == waiting[2:]
    _run_the_rest(worker, execution_id, [*answer["next"], *message["operations"]])
    _completed(idle, worker, execution_id)


def test_a_released_attempt_is_queued_again_or_held_while_cancelling(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    execution_id = _install(idle, tmp_path)
    running, released, held = worker.claim(worker.queued_creates(execution_id)[:3])["operations"]
    before = _messages(idle, [released["operation_id"], held["operation_id"]])

    answer = worker.report(release=[_attempt(released)])

    assert answer == {"answers": {released["operation_id"]: "released"}, "next": []}
    row = worker.operations(execution_id)[released["operation_id"]]
    assert (row["state"], row["attempt"], row["worker"]) == ("queued", 1, None)
    after = _messages(idle, [released["operation_id"], held["operation_id"]])
    assert [m for m in after if m not in before] == [
        (RUN_OPERATIONS, [(released["operation_id"], 1)])
    ]
    # Its message, a batch of one, is claimed like any other, and announced then.
    (single,) = worker.claim([_attempt(released)])["operations"]
    assert single["announced"] is True
    assert worker.task_events(execution_id)[released["operation_id"]] == ["task_started"]

    cancel = idle.client.post(f"/executions/{execution_id}", json={"action": "cancel"})
    assert cancel.status_code == 200, cancel.text
    answer = worker.report(release=[_attempt(held)])

    assert answer["answers"] == {held["operation_id"]: "released"}
    row = worker.operations(execution_id)[held["operation_id"]]
    assert (row["state"], row["attempt"], row["worker"]) == ("pending", 1, None)
    assert _messages(idle, [released["operation_id"], held["operation_id"]]) == after
    assert idle.client.get(f"/executions/{execution_id}").json()["status"] == "cancelling"
    answer = worker.report([_success(running), _success(single)])
    assert set(answer["answers"].values()) == {"applied"}, answer
    assert idle.wait(execution_id, timeout=30)["status"] == "cancelled"
    assert worker.task_events(execution_id)[held["operation_id"]] == []

    resume = idle.client.post(f"/executions/{execution_id}", json={"action": "resume"})

    assert resume.status_code == 200, resume.text
    row = worker.operations(execution_id)[held["operation_id"]]
    assert (row["state"], row["attempt"]) == ("queued", 2)
    _run_the_rest(worker, execution_id, [])
    _completed(idle, worker, execution_id)


def test_announcing_a_start_emits_it_once_and_only_for_a_running_attempt(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    execution_id = _install(idle, tmp_path)
    creates = worker.queued_creates(execution_id)
    first, second = worker.claim(creates[:2])["operations"]
    assert second["announced"] is False
    not_claimed = creates[2]

    answer = worker.report(started=[_attempt(second)])

    assert answer == {"answers": {second["operation_id"]: "announced"}, "next": []}
    events = worker.task_events(execution_id)
    assert events[second["operation_id"]] == ["task_started"]

    answer = worker.report(
        started=[not_claimed, {**_attempt(first), "attempt": 2}, {"id": "none", "attempt": 1}]
    )

    assert set(answer["answers"]) == {not_claimed["id"], first["operation_id"], "none"}
    assert f"`{not_claimed['id']}` attempt 1 is not running" in answer["answers"][not_claimed["id"]]
    assert (
        f"`{first['operation_id']}` attempt 2 is not running"
        in answer["answers"][first["operation_id"]]
    )
    assert "does not exist" in answer["answers"]["none"]
    assert worker.task_events(execution_id) == events
    _run_the_rest(worker, execution_id, [first, {**second, "announced": True}])
    _completed(idle, worker, execution_id)


def test_a_report_never_hands_back_what_it_gives_back(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    execution_id = _install(idle, tmp_path)
    ran, given_back = worker.claim(worker.queued_creates(execution_id)[:2])["operations"]
    operations = worker.operations(execution_id)
    (configure,) = (
        op_id
        for op_id, op in operations.items()
        if op["name"] == CONFIGURE
        and op["node_instance_id"] == operations[ran["operation_id"]]["node_instance_id"]
    )

    answer = worker.report([_success(ran)], release=[_attempt(given_back)], want=1)

    try:
        assert answer["answers"] == {
            ran["operation_id"]: "applied",
            given_back["operation_id"]: "released",
        }
        row = worker.operations(execution_id)[given_back["operation_id"]]
        assert [c["operation_id"] for c in answer["next"]] == [configure]
        assert (row["state"], row["worker"]) == ("queued", None)
    finally:
        _run_the_rest(worker, execution_id, answer["next"])


def test_announcing_a_start_again_emits_nothing_more(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    """As when a worker sends its report again, its answer lost on the way."""
    execution_id = _install(idle, tmp_path)
    first, second = worker.claim(worker.queued_creates(execution_id)[:2])["operations"]

    for announced in (second, second, first):  # (the first was announced by the claim)
        worker.report(started=[_attempt(announced)])

    try:
        events = worker.task_events(execution_id)
        assert events[first["operation_id"]] == events[second["operation_id"]] == ["task_started"]
    finally:
        _run_the_rest(worker, execution_id, [first, {**second, "announced": True}])


def test_a_worker_gives_back_what_a_slow_operation_holds_up(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    """One batch of five creates; the first to start runs until the test opens its gate.
    Meanwhile the other four (and their configures) must all finish: they were released to
    the worker's other process rather than left to wait behind the slow one."""
    markers = tmp_path / "markers"
    markers.mkdir()
    process = idle.start_worker("--concurrency", "2")
    try:
        execution_id = _install(idle, markers, count=5, hold_seconds=60)
        slow_instance = wait_until(lambda: (markers / "slow" / "instance").read_text().strip(), 60)
        operations = worker.operations(execution_id)
        slow = {
            op_id for op_id, op in operations.items() if op["node_instance_id"] == slow_instance
        }
        (slow_create,) = (op_id for op_id in slow if operations[op_id]["name"] == CREATE)

        def the_others_succeeded() -> bool:
            events = worker.task_events(execution_id)
            return all("task_succeeded" in events[op_id] for op_id in set(operations) - slow)

        try:
            wait_until(the_others_succeeded, 30)
        except TimeoutError:
            raise AssertionError(worker.task_events(execution_id)) from None
        rows = worker.operations(execution_id)
        assert rows[slow_create]["state"] == "running"
        assert "task_succeeded" not in worker.task_events(execution_id)[slow_create]
        assert not list(markers.glob(f"{slow_instance}.*"))
        # (Claimed with the slow one in its batch, then by the worker's other process.)
        others = {rows[op_id]["worker"] for op_id in set(operations) - slow}
        assert rows[slow_create]["worker"] not in others
        (markers / "gate").touch()

        execution = idle.wait(execution_id, timeout=60)
    finally:
        (markers / "gate").touch()
        Stack.kill(process, signal.SIGTERM)
    assert execution["status"] == "terminated", execution["error"]
    events = worker.task_events(execution_id)
    assert all(types == ["task_started", "task_succeeded"] for types in events.values()), events
    assert len(list(markers.glob("*.create"))) == len(list(markers.glob("*.configure"))) == 5


def test_a_real_worker_announces_each_start_once_however_its_batches_go(
    idle: Stack, worker: BatchWorker, tmp_path: Path
) -> None:
    """Fast operations in batches of a real worker: whether an operation's start is announced
    by its claim, by its result, or by the watcher while it runs (and whether it is run in
    its batch or given back), it starts once and succeeds once."""
    process = idle.start_worker("--concurrency", "2")
    try:
        execution_id = _install(idle, tmp_path)
        idle.wait(execution_id, timeout=60)
    finally:
        Stack.kill(process, signal.SIGTERM)
    _completed(idle, worker, execution_id)
    assert len(list(tmp_path.glob("*.create"))) == len(list(tmp_path.glob("*.configure")))
    assert len(list(tmp_path.glob("*.create"))) == INSTANCES
