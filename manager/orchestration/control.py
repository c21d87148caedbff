"""Changing an execution's graph from outside its workers: cancel and resume (users) and
the watchdog's repairs (dead workers, lost messages, executions with nothing left to run).
Each takes the execution row's lock first (`locks`), as the worker protocol does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from manager.clock import Clock
from manager.db import Execution, Operation
from manager.db import event_store as events
from manager.db.base import utcnow
from manager.errors import Conflict
from manager.orchestration import executions as states
from manager.orchestration import updates
from manager.orchestration.completion import check_completion
from manager.orchestration.locks import lock_execution
from manager.orchestration.operation_states import (
    ACTIVE,
    CANCELLED,
    FAILED,
    OPERATIONS,
    PENDING,
    QUEUED,
    RUNNING,
    StaleReport,
    move,
)
from manager.orchestration.outbox import Outbox, Publisher
from manager.orchestration.results import failure, report
from manager.workflows.graph import OPERATION


def cancel(session: Session, execution: Execution, action: str, outbox: Outbox) -> None:
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
    session.flush()  # (the execution's new status is written first, as before its operations)
    mine = OPERATIONS.c.execution_id == execution.id
    move(session, PENDING, mine, only_from=(QUEUED,), waiting_on=0)
    if target == states.KILL_CANCELLING:
        # Workers learn of it on their next heartbeat and kill the process.
        move(
            session, CANCELLED, mine, only_from=(RUNNING,), ended_at=utcnow(), lease_expires_at=None
        )
    check_completion(session, execution, outbox)


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
    updates.resumed(session, execution)
    c = OPERATIONS.c
    retried = (
        session.connection()
        .execute(
            select(c.id, c.state, c.attempt, c.queue, c.parameters).where(
                c.execution_id == execution.id,
                c.type == OPERATION,
                (c.state.in_((FAILED, CANCELLED))) | ((c.state == PENDING) & (c.waiting_on <= 0)),
            )
        )
        .all()
    )
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
        parameters = {**op.parameters, "retry_base": op.attempt}
        if force and op.state == CANCELLED:
            parameters["resume"] = True
        # (One UPDATE each: each gets its own parameters; a resume is rare.)
        move(
            session,
            QUEUED,
            c.id == op.id,
            only_from=(op.state,),
            parameters=parameters,
            attempt=op.attempt + 1,
            queued_at=now,
            run_after=None,
            error=None,
        )
        outbox.add(op.id, op.attempt + 1, op.queue)
    check_completion(session, execution, outbox)


def expire_leases(session: Session, outbox: Outbox, clock: Clock = utcnow) -> int:
    """Operations whose worker stopped heartbeating fail as recoverable: "worker lost"."""
    now = clock()
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
                    failure(
                        "recoverable",
                        "WorkerLost",
                        "Worker lost while running the operation (its lease expired)",
                    ),
                    outbox,
                    clock,
                )
        except StaleReport:
            continue
    return len(expired)


def grace_leases(session: Session, seconds: float, clock: Clock = utcnow) -> int:
    """Give every running operation a full lease: workers could not heartbeat while no API
    ran, which must not count as their death (called when a watchdog takes over)."""
    result = session.execute(
        update(Operation)
        .where(Operation.state == RUNNING)
        .values(lease_expires_at=clock() + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def republish_lost(
    session: Session,
    outbox: Outbox,
    window: float,
    clock: Clock = utcnow,
    publisher: Publisher | None = None,
) -> int:
    """Queued operations nobody claimed within `window` seconds of being due: publish again.

    A queue whose messages are still waiting in Redis is a busy queue, not a lossy one:
    its operations are left alone.
    """
    now = clock()
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


def finish_stuck(session: Session, outbox: Outbox) -> int:
    """Executions marked started/cancelling with nothing active: end them (a safety net).
    What that queues (a failed scale-out's rollback) goes into `outbox`."""
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
        ended += check_completion(session, execution, outbox)
    return ended
