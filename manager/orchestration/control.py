"""Changing an execution's graph from outside its workers: cancel and resume (users) and
the watchdog's repairs (dead workers, lost messages, executions with nothing left to run).
Each takes the execution row's lock first, as everything in `operations` does."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from manager.db import Execution, Operation
from manager.db.base import utcnow
from manager.errors import Conflict
from manager.orchestration import executions as states
from manager.orchestration.operations import (
    ACTIVE,
    CANCELLED,
    FAILED,
    OPERATION,
    PENDING,
    QUEUED,
    RUNNING,
    Outbox,
    Publisher,
    StaleReport,
    check_completion,
    lock_execution,
    report,
)
from manager.services import events


def cancel(session: Session, execution: Execution, action: str) -> None:
    target = {
        "cancel": states.CANCELLING,
        "force-cancel": states.FORCE_CANCELLING,
        "kill": states.KILL_CANCELLING,
    }[action]
    if execution.status in (states.QUEUED, states.SCHEDULED, states.PENDING):
        states.transition(session, execution, states.CANCELLED)
        return
    states.transition(session, execution, target)
    # Nothing new starts: queued operations go back to held.
    session.execute(
        update(Operation)
        .where(Operation.execution_id == execution.id, Operation.state == QUEUED)
        .values(state=PENDING, waiting_on=0)
        .execution_options(synchronize_session=False)
    )
    if target == states.KILL_CANCELLING:
        # Workers learn of it on their next heartbeat and kill the process.
        session.execute(
            update(Operation)
            .where(Operation.execution_id == execution.id, Operation.state == RUNNING)
            .values(state=CANCELLED, ended_at=utcnow(), lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
    check_completion(session, execution)


def resume(session: Session, execution: Execution, outbox: Outbox, *, force: bool = False) -> None:
    """Run failed, cancelled and held operations again, with a fresh retry budget."""
    if execution.status not in (states.FAILED, states.CANCELLED):
        raise Conflict(
            f"Execution `{execution.id}` is {execution.status}: only failed or cancelled "
            "executions can be resumed"
        )
    states.transition(session, execution, states.STARTED)
    execution.error = ""
    execution.ended_at = None
    execution.resume = True
    retried = session.scalars(
        select(Operation).where(
            Operation.execution_id == execution.id,
            Operation.type == OPERATION,
            (Operation.state.in_((FAILED, CANCELLED)))
            | ((Operation.state == PENDING) & (Operation.waiting_on <= 0)),
        )
    ).all()
    failed = sum(1 for op in retried if op.state == FAILED)
    execution.failed_operations = max(execution.failed_operations - failed, 0)
    now = utcnow()
    events.emit(
        session,
        execution,
        [
            {
                "type": "cloudify_event",
                "event_type": "workflow_started",
                "message": f"Resuming '{execution.workflow_id}' workflow execution",
            }
        ],
    )
    for op in retried:
        if force and op.state == CANCELLED:
            op.parameters = {**op.parameters, "resume": True}
        op.parameters = {**op.parameters, "retry_base": op.attempt}
        op.attempt += 1
        op.state = QUEUED
        op.queued_at = now
        op.run_after = None
        op.error = None
        outbox.add(op.id, op.attempt, op.queue)
    check_completion(session, execution, outbox)


def expire_leases(session: Session, outbox: Outbox, now: datetime | None = None) -> int:
    """Operations whose worker stopped heartbeating fail as recoverable: "worker lost"."""
    now = now or utcnow()
    expired = session.execute(
        select(Operation.id, Operation.attempt).where(
            Operation.state == RUNNING, Operation.lease_expires_at < now
        )
    ).all()
    for row in expired:
        try:
            with session.begin_nested():
                report(
                    session,
                    row.id,
                    row.attempt,
                    {
                        "status": "failed",
                        "kind": "recoverable",
                        "exc_type": "WorkerLost",
                        "message": "Worker lost while running the operation (its lease expired)",
                    },
                    outbox,
                )
        except StaleReport:
            continue
    return len(expired)


def grace_leases(session: Session, seconds: float) -> int:
    """Give every running operation a full lease: workers could not heartbeat while no API
    ran, which must not count as their death (called when a watchdog takes over)."""
    result = session.execute(
        update(Operation)
        .where(Operation.state == RUNNING)
        .values(lease_expires_at=utcnow() + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def republish_lost(
    session: Session,
    outbox: Outbox,
    window: float,
    now: datetime | None = None,
    publisher: Publisher | None = None,
) -> int:
    """Queued operations nobody claimed within `window` seconds of being due: publish again.

    A queue whose messages are still waiting in Redis is a busy queue, not a lossy one:
    its operations are left alone.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=window)
    rows = session.execute(
        select(Operation.id, Operation.attempt, Operation.queue, Operation.run_after)
        .join(Execution, Execution.id == Operation.execution_id)
        .where(
            Operation.state == QUEUED,
            Operation.queued_at < cutoff,
            (Operation.run_after.is_(None)) | (Operation.run_after < cutoff),
            Execution.status == states.STARTED,
        )
        .limit(1000)
    ).all()
    if publisher is not None:
        busy = {q for q in {r.queue for r in rows} if publisher.backlog(q)}
        rows = [r for r in rows if r.queue not in busy]
    if rows:
        session.execute(
            update(Operation)
            .where(Operation.id.in_([r.id for r in rows]))
            .values(queued_at=now)
            .execution_options(synchronize_session=False)
        )
    for row in rows:
        outbox.add(row.id, row.attempt, row.queue)
    return len(rows)


def finish_stuck(session: Session) -> int:
    """Executions marked started/cancelling with nothing active: end them (a safety net)."""
    ids = session.scalars(
        select(Execution.id).where(
            Execution.status.in_(
                (states.STARTED, states.CANCELLING, states.FORCE_CANCELLING, states.KILL_CANCELLING)
            ),
            ~select(Operation.id)
            .where(Operation.execution_id == Execution.id, Operation.state.in_(ACTIVE))
            .exists(),
        )
    ).all()
    ended = 0
    for execution_id in ids:
        execution = lock_execution(session, execution_id)
        ended += check_completion(session, execution)
    return ended
