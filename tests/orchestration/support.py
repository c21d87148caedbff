"""Helpers of the in-process orchestration tests: a small execution graph stored by the real
`graph_store`, driven by the functions the worker routes and the watchdog call, with a clock
the test moves instead of waiting for time to pass."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import select

from manager.broker import redis_client_url
from manager.db import Event, Execution, Operation, Tenant
from manager.db.base import utcnow
from manager.db.engine import Database
from manager.orchestration.graph_store import store
from manager.orchestration.outbox import Outbox
from manager.workflows.graph import Graph, Step


class ManualClock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Run:
    """An execution stored from a small graph: its id and its operations' ids by name."""

    execution_id: str
    ids: dict[str, str]
    queue: str
    # What the store queued: to publish once it committed.
    outbox: Outbox = field(default_factory=Outbox)


def new_run(
    database: Database,
    chain: list[str],
    *,
    parallel: tuple[str, ...] = (),
    max_retries: int = 0,
    retry_interval: float = 0.0,
    parameters: dict[str, dict[str, Any]] | None = None,
) -> Run:
    """Store an execution whose operations `chain` run one after the other and `parallel`
    ones alongside the first, all on a queue of the run's own."""
    name = f"orch-{uuid.uuid4().hex[:8]}"
    queue = f"{name}-queue"
    graph = Graph()
    steps: dict[str, Step] = {}
    previous: Step | None = None
    for op in [*chain, *parallel]:
        step = graph.operation(
            op,
            f"{op}_{uuid.uuid4().hex[:6]}",
            {"task": f"tests.{op}", **(parameters or {}).get(op, {})},
            max_retries=max_retries,
            retry_interval=retry_interval,
            queue=queue,
        )
        if op in chain and previous is not None:
            step.after.add(previous)
        if op in chain:
            previous = step
        steps[op] = step
    run = Run(name, {op: step.id for op, step in steps.items()}, queue)
    with database.transaction() as session:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.flush()
        execution = Execution(id=name, tenant_pk=tenant.pk, workflow_id="install")
        session.add(execution)
        session.flush()
        store(session, execution, graph, run.outbox)
    return run


def operation(database: Database, operation_id: str) -> Operation:
    with database.transaction() as session:
        row = session.get(Operation, operation_id)
        assert row is not None, f"no operation `{operation_id}`"
        session.expunge(row)
        return row


def states(database: Database, run: Run) -> dict[str, tuple[str, int]]:
    """Each operation's (state, attempt), by name."""
    names = {operation_id: op for op, operation_id in run.ids.items()}
    with database.transaction() as session:
        rows = session.execute(
            select(Operation.id, Operation.state, Operation.attempt).where(
                Operation.execution_id == run.execution_id
            )
        ).all()
    return {names[row.id]: (row.state, row.attempt) for row in rows if row.id in names}


def execution_status(database: Database, run: Run) -> tuple[str, str]:
    with database.transaction() as session:
        execution = session.get(Execution, run.execution_id)
        assert execution is not None
        return execution.status, execution.error or ""


def event_types(database: Database, run: Run) -> list[str]:
    with database.transaction() as session:
        return [
            str(t)
            for t in session.scalars(
                select(Event.event_type)
                .where(Event.execution_id == run.execution_id)
                .order_by(Event.seq)
            )
        ]


def messages(database: Database, run: Run) -> list[str]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(Event.message)
                .where(Event.execution_id == run.execution_id)
                .order_by(Event.seq)
            )
        )


def queued(outbox: Outbox) -> list[tuple[str, int, float]]:
    """What an outbox holds: (operation id, attempt, countdown) each."""
    return [(m.operation_id, m.attempt, m.countdown) for m in outbox.items]


def published(redis_url: str, queue: str) -> list[list[tuple[str, int]]]:
    """The (operation id, attempt) pairs of each message waiting on `queue`, oldest first."""
    with redis.Redis.from_url(redis_client_url(redis_url)) as client:
        waiting = client.lrange(queue, 0, -1)
    carried = []
    for raw in reversed(waiting):  # (kombu pushes on the left)
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        carried.append([(operation_id, attempt) for operation_id, attempt in body[0][0]])
    return carried
