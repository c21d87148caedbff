"""Workers' reports: results applied exactly once, in order, execution by execution; starts
announced; claimed attempts given back; and the next operations handed over in the answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manager import metrics
from manager.clock import Clock
from manager.db import Execution, NodeInstance
from manager.db import event_store as events
from manager.db.base import utcnow
from manager.db.deployments import of_deployment
from manager.orchestration import executions as states
from manager.orchestration.claims import Claimed, announce_start, next_for
from manager.orchestration.completion import check_completion
from manager.orchestration.failures import not_succeeded
from manager.orchestration.graph_store import go_on
from manager.orchestration.locks import locked_groups, locked_row
from manager.orchestration.operation_states import (
    NOW,
    OPERATIONS,
    PENDING,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    StaleReport,
    move,
    move_ids,
    moving,
)
from manager.orchestration.outbox import Outbox
from manager.orchestration.task_events import started_event, succeeded_event, worker_event


def failure(kind: str, exc_type: str, message: str) -> dict[str, Any]:
    """The outcome of an attempt the manager itself fails (the worker's are built alike)."""
    return {"status": "failed", "kind": kind, "exc_type": exc_type, "message": message}


@dataclass(frozen=True)
class ReportedResult:
    """A worker's result for one attempt of an operation."""

    operation_id: str
    attempt: int
    outcome: dict[str, Any]
    # The operation's execution, as the worker knows it (saves looking it up).
    execution_id: str | None = None


@dataclass
class WorkerReport:
    """What a worker sends after running operations it claimed (`report_batch`)."""

    results: list[ReportedResult] = field(default_factory=list)
    # Attempts running on the worker whose start is still to be announced.
    started: list[tuple[str, int]] = field(default_factory=list)
    # Attempts the worker claimed but will not run: queued again for any worker.
    released: list[tuple[str, int]] = field(default_factory=list)


def record_logs(
    session: Session, operation_id: str, attempt: int, items: list[dict[str, Any]]
) -> None:
    operation, execution = locked_row(session, operation_id)
    events.emit(session, execution, [worker_event(operation, item) for item in items])


def report(
    session: Session,
    operation_id: str,
    attempt: int,
    outcome: dict[str, Any],
    outbox: Outbox,
    clock: Clock = utcnow,
) -> None:
    """Apply a result the manager reaches for one attempt (a lost worker, a context that
    cannot be built), exactly once."""
    row, execution = locked_row(session, operation_id)
    if _is_new(row, attempt, outcome):
        _apply(session, execution, [(row, outcome)], outbox, clock)


def _is_new(row: Any, attempt: int, outcome: dict[str, Any]) -> bool:
    """True for the report of the running attempt, False for the same report again; a
    report of any other attempt is stale."""
    if row.attempt == attempt and row.state == RUNNING:
        return True
    if row.attempt == attempt and (row.result or {}).get("status") == outcome.get("status"):
        return False
    raise StaleReport(
        f"Operation `{row.id}` attempt {attempt} is not running "
        f"(it is {row.state}, attempt {row.attempt}); the report is ignored"
    )


def report_batch(
    session: Session,
    batch: WorkerReport,
    outbox: Outbox,
    *,
    worker: str = "",
    want: int = 0,
    lease: float = 30.0,
    clock: Clock = utcnow,
) -> tuple[dict[str, str], list[Claimed]]:
    """Apply a worker's batch in this transaction, execution by execution: starts to
    announce, results in the order given, attempts given back. With `want`, claim for
    `worker` up to that many operations the results made ready on their queues.

    Returns what became of each operation id ("applied", "repeated", or why it was
    ignored) and the operations claimed for the worker, with their executions."""
    answers: dict[str, str] = {}
    handed: list[Claimed] = []
    attempts: dict[str, int] = {}
    for operation_id, attempt in [*batch.started, *batch.released]:
        attempts[operation_id] = attempt
    for result in batch.results:
        attempts[result.operation_id] = result.attempt
    results = {r.operation_id: r for r in batch.results}
    released = {operation_id for operation_id, _ in batch.released}
    owners = {r.operation_id: r.execution_id for r in batch.results if r.execution_id}
    for execution, rows in locked_groups(session, list(attempts), answers, owners):
        since = len(outbox.items)
        applied: list[tuple[Any, dict[str, Any]]] = []
        for row in rows:
            attempt = attempts[row.id]
            if row.id in results:
                outcome = results[row.id].outcome
                try:
                    fresh = _is_new(row, attempt, outcome)
                except StaleReport as exc:
                    answers[row.id] = str(exc)
                    continue
                answers[row.id] = "applied" if fresh else "repeated"
                if fresh:
                    applied.append((row, outcome))
            elif row.state != RUNNING or row.attempt != attempt:
                answers[row.id] = f"Operation `{row.id}` attempt {attempt} is not running"
            elif row.id in released:
                answers[row.id] = "released"
                _release(session, execution, row, outbox)
            else:
                announced = announce_start(session, execution, row)
                answers[row.id] = "announced" if announced else "announced already"
        if applied:
            _apply(session, execution, applied, outbox, clock)
            handed += next_for(
                session,
                execution,
                outbox,
                {row.queue for row, _ in applied},
                worker,
                lease,
                limit=want - len(handed),
                since=since,
                skip=released,
                clock=clock,
            )
        elif released & {row.id for row in rows}:
            check_completion(session, execution, outbox)  # (what it gave back may be held)
    return answers, handed


def _release(session: Session, execution: Execution, row: Any, outbox: Outbox) -> None:
    """A claimed attempt its worker gives back unstarted: queued again, same attempt (held
    pending when the execution no longer starts operations)."""
    held = execution.status != states.STARTED
    move(
        session,
        PENDING if held else QUEUED,
        OPERATIONS.c.id == row.id,
        only_from=(RUNNING,),
        worker=None,
        started_at=None,
        lease_expires_at=None,
        queued_at=utcnow(),
        run_after=None,
    )
    if not held:
        # One message each: what is given back is what its worker found slow to get to.
        outbox.add(row.id, row.attempt, row.queue, single=True)


def _apply(
    session: Session,
    execution: Execution,
    reports: Sequence[tuple[Any, dict[str, Any]]],
    outbox: Outbox,
    clock: Clock = utcnow,
) -> None:
    """Apply new results (locked rows, with their outcomes) of one execution, in order: runs
    of successes in bulk, failures one by one; then end the execution if it is over."""
    queued_before = len(outbox.items)
    succeeded: list[Any] = []
    now = clock()
    for row, outcome in reports:
        metrics.operation_finished(outcome.get("status", ""), row.started_at, now)
        if row.started_at is None:  # (claimed in a batch, not announced yet)
            events.emit(session, execution, [started_event(row)])
        events.emit(session, execution, [worker_event(row, i) for i in outcome.get("logs") or []])
        _save_runtime_properties(session, execution, outcome.get("runtime_properties") or {})
        if outcome.get("status") == "succeeded":
            events.emit(session, execution, [succeeded_event(row)])
            succeeded.append(row)
            continue
        _succeeded(session, execution, succeeded, outbox)
        succeeded = []
        not_succeeded(session, execution, row, outcome, outbox, clock)
    _succeeded(session, execution, succeeded, outbox)
    if len(outbox.items) == queued_before or execution.status != states.STARTED:
        # (Something just queued: the execution cannot be over, no need to count.)
        check_completion(session, execution, outbox)


# (Built once: every report runs it.)
_SUCCEED = moving(
    SUCCEEDED,
    only_from=(RUNNING,),
    started_at=func.coalesce(OPERATIONS.c.started_at, NOW),
    ended_at=NOW,
    lease_expires_at=None,
    result={"status": "succeeded"},
)


def _succeeded(session: Session, execution: Execution, rows: Sequence[Any], outbox: Outbox) -> None:
    """Operations that succeeded (their rows, as read locked): the common case, in bulk."""
    if not rows:
        return
    move_ids(session, _SUCCEED, [row.id for row in rows], now=utcnow())
    events.count_finished(session, execution, len(rows))
    go_on(session, execution, rows, outbox)


def _save_runtime_properties(
    session: Session, execution: Execution, changes: dict[str, dict[str, Any]]
) -> None:
    """Write what the operation changed; a concurrent writer's keys are kept (merge by key)."""
    if not changes or execution.is_dry_run:
        return
    instances = session.scalars(
        select(NodeInstance)
        .where(of_deployment(execution.deployment_pk, list(changes)))
        .with_for_update()
    ).all()
    for instance in instances:
        change = changes[instance.id]
        new = change.get("runtime_properties") or {}
        if change.get("version") in (None, instance.version):
            instance.runtime_properties = new
        else:
            base = change.get("base") or {}
            merged = dict(instance.runtime_properties)
            for key in set(base) | set(new):
                if key not in new:
                    merged.pop(key, None)
                elif base.get(key) != new[key] or key not in base:
                    merged[key] = new[key]
            instance.runtime_properties = merged
        instance.version += 1
