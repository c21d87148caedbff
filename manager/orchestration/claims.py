"""Giving queued operations to workers: claims of a message's attempts, the operations handed
over with a report's answer, the announcement of their start, and their leases."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, select
from sqlalchemy.orm import Session

from manager import metrics
from manager.clock import Clock
from manager.db import Execution, Operation
from manager.db import event_store as events
from manager.db.base import UtcDateTime, utcnow
from manager.orchestration import executions as states
from manager.orchestration.locks import locked_groups
from manager.orchestration.operation_states import (
    NOW,
    OPERATIONS,
    QUEUED,
    RUNNING,
    move_ids,
    moving,
)
from manager.orchestration.outbox import Outbox
from manager.orchestration.task_events import started_event


class Claimed(NamedTuple):
    """An operation claimed for a worker: its row, its execution, and whether its start was
    announced (else it is when its worker reports it, or says it started: `report_batch`)."""

    row: Any
    execution: Execution
    announced: bool


def _unclaimable(operation: Any, attempt: int, execution: Execution, now: datetime) -> str | None:
    """Why `attempt` of `operation` (its locked row) cannot be claimed at `now`, if it cannot."""
    if operation.attempt != attempt or operation.state != QUEUED:
        return (
            f"Operation `{operation.id}` attempt {attempt} is not waiting for a worker "
            f"(it is {operation.state}, attempt {operation.attempt}): drop the message"
        )
    if execution.status != states.STARTED:
        return f"Execution `{execution.id}` is {execution.status}: drop the message"
    if operation.run_after is not None and operation.run_after > now + timedelta(seconds=1):
        return f"Operation `{operation.id}` is not due before {operation.run_after}"
    return None


def claim_many(
    session: Session,
    items: Sequence[tuple[str, int]],
    worker: str,
    lease_seconds: float,
    clock: Clock = utcnow,
) -> tuple[list[Claimed], dict[str, str]]:
    """Claim what can be claimed of a message's attempts for `worker`: the claimed rows with
    their executions, in the order given, and why the others were not. Only the first
    claimed operation's start is announced now (see `Claimed`)."""
    claimed: list[Claimed] = []
    refused: dict[str, str] = {}
    wanted: dict[str, int] = {}
    for operation_id, attempt in items:
        wanted.setdefault(operation_id, attempt)  # (the first, if one is listed twice)
    now = clock()
    for execution, rows in locked_groups(session, list(wanted), refused):
        ids = []
        for row in rows:
            problem = _unclaimable(row, wanted[row.id], execution, now)
            if problem:
                refused[row.id] = problem
            else:
                ids.append(row.id)
        rows = mark_running(session, execution, ids, worker, lease_seconds, clock)
        claimed += [Claimed(row, execution, row.started_at is not None) for row in rows]
    order = {operation_id: index for index, (operation_id, _) in enumerate(items)}
    claimed.sort(key=lambda each: order[each.row.id])
    return claimed, refused


_C = OPERATIONS.c
# (Built once: every claim and hand-over runs it.) The first operation's start is announced.
_MARK_RUNNING = moving(
    RUNNING,
    returning=(
        _C.id,
        _C.name,
        _C.node_instance_id,
        _C.parameters,
        _C.attempt,
        _C.queue,
        _C.max_retries,
        _C.timeout,
        _C.started_at,
    ),
    worker=bindparam("worker_name"),
    started_at=case((_C.id == bindparam("first"), NOW), else_=None),
    lease_expires_at=bindparam("lease_until", type_=UtcDateTime()),
)


def mark_running(
    session: Session,
    execution: Execution,
    operation_ids: Sequence[str],
    worker: str,
    lease: float,
    clock: Clock = utcnow,
) -> list[Any]:
    """Queued operations now run for `worker`: their rows, with what the context needs, in
    the order given (those not queued are left out). Announces the start of the first
    one; the others' `started_at` stays empty until their worker announces them
    (`announce_start`)."""
    if not operation_ids:
        return []
    now = clock()
    result = move_ids(
        session,
        _MARK_RUNNING,
        operation_ids,
        first=operation_ids[0],
        now=now,
        worker_name=worker,
        lease_until=now + timedelta(seconds=lease),
    )
    rows = {row.id: row for row in result}
    running = [rows[i] for i in operation_ids if i in rows]
    announced = [row for row in running if row.started_at is not None]
    events.emit(session, execution, [started_event(row) for row in announced])
    metrics.OPERATIONS_STARTED.inc(len(running))
    return running


def announce_start(session: Session, execution: Execution, row: Any) -> bool:
    """Announce that a running operation claimed unannounced (`mark_running`) started,
    once: False if it was announced already."""
    if row.started_at is not None:
        return False
    session.connection().execute(
        OPERATIONS.update().where(OPERATIONS.c.id == row.id).values(started_at=utcnow())
    )
    events.emit(session, execution, [started_event(row)])
    return True


def next_for(
    session: Session,
    execution: Execution,
    outbox: Outbox,
    queues: Collection[str],
    worker: str,
    lease: float,
    *,
    limit: int,
    since: int = 0,
    skip: Collection[str] = (),
    clock: Clock = utcnow,
) -> list[Claimed]:
    """Claim for `worker` up to `limit` operations this transaction queued on `queues` (from
    outbox item `since` on), taking them out of the outbox: the reporting worker, which
    consumes those queues, runs them next, saving a round trip through Redis and a claim.
    The number is made up with operations of the execution on those queues already
    published and still waiting for a worker (the oldest first; their messages are then
    refused, one claim for a batch of them). Never those in `skip`. Only the first one's
    start is announced."""
    if execution.status != states.STARTED or limit < 1:
        return []
    taken = [
        item.operation_id
        for item in outbox.items[since:]
        if item.queue in queues and item.countdown <= 0 and item.operation_id not in skip
    ][:limit]
    if len(taken) < limit:
        c = OPERATIONS.c
        taken += session.connection().scalars(
            select(c.id)
            .where(
                c.execution_id == execution.id,
                c.state == QUEUED,
                c.queue.in_(list(queues)),
                c.run_after.is_(None),
                c.id.not_in([*taken, *skip]),
            )
            .order_by(c.queued_at, c.id)
            .limit(limit - len(taken))
        )
    rows = mark_running(session, execution, taken, worker, lease, clock)
    claimed = {row.id for row in rows}
    outbox.items = [item for item in outbox.items if item.operation_id not in claimed]
    return [Claimed(row, execution, row.started_at is not None) for row in rows]


def heartbeat(
    session: Session,
    operation_id: str,
    attempt: int,
    lease_seconds: float,
    clock: Clock = utcnow,
) -> bool:
    """Extend the lease; True tells the worker to kill the operation."""
    operation = session.scalars(
        select(Operation).where(Operation.id == operation_id).with_for_update()
    ).first()
    if operation is None or operation.attempt != attempt or operation.state != RUNNING:
        return True
    status = session.scalar(select(Execution.status).where(Execution.id == operation.execution_id))
    if status in (states.FORCE_CANCELLING, states.KILL_CANCELLING):
        return True
    operation.lease_expires_at = clock() + timedelta(seconds=lease_seconds)
    return False
