"""An attempt that did not succeed: cancelled, retried (queued again after its interval, or
held while its execution stops), or failed for good (its dependents then run only when the
operation ignores failures)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session

from manager import metrics
from manager.clock import Clock
from manager.db import Execution
from manager.db import event_store as events
from manager.db.base import utcnow
from manager.orchestration import executions as states
from manager.orchestration.graph_store import go_on
from manager.orchestration.operation_states import (
    CANCELLED,
    FAILED,
    OPERATIONS,
    PENDING,
    QUEUED,
    RUNNING,
    move,
)
from manager.orchestration.outbox import Outbox
from manager.orchestration.task_events import retry_number, retry_suffix, task_event, task_name

RETRYABLE_KINDS = ("recoverable", "retry")


def not_succeeded(
    session: Session,
    execution: Execution,
    row: Any,
    outcome: dict[str, Any],
    outbox: Outbox,
    clock: Clock = utcnow,
) -> None:
    """Apply a failed or cancelled result of the running attempt `row` (its locked row); a
    retry is due `clock()` plus its interval."""
    now = clock()
    c = OPERATIONS.c
    common: dict[str, Any] = {
        "lease_expires_at": None,
        "started_at": func.coalesce(c.started_at, now),
        "result": {"status": outcome.get("status")},
    }
    this = c.id == row.id
    if outcome.get("cancelled"):
        move(session, CANCELLED, this, only_from=(RUNNING,), ended_at=now, **common)
        return
    kind = outcome.get("kind") or "recoverable"
    message = str(outcome.get("message") or "operation failed")
    events.emit(session, execution, [_failure_event(row, outcome, kind, message)])
    common["error"] = {"message": message, "kind": kind, "type": outcome.get("exc_type")}
    can_retry = kind in RETRYABLE_KINDS and (
        row.max_retries < 0 or retry_number(row) < row.max_retries
    )
    if can_retry:
        metrics.OPERATIONS_RETRIED.inc()
        retry_after = outcome.get("retry_after")
        delay = float(retry_after if retry_after is not None else row.retry_interval)
        held = execution.status != states.STARTED  # (held for a resume)
        move(
            session,
            PENDING if held else QUEUED,
            this,
            only_from=(RUNNING,),
            attempt=row.attempt + 1,
            queued_at=now,
            run_after=now + timedelta(seconds=delay),
            worker=None,
            **common,
        )
        if not held:
            outbox.add(row.id, row.attempt + 1, row.queue, delay)
        return
    move(session, FAILED, this, only_from=(RUNNING,), ended_at=now, **common)
    execution.failed_operations += 1
    if row.parameters.get("ignore_failure"):
        execution.finished_operations += 1
        go_on(session, execution, [row], outbox)


def _failure_event(row: Any, outcome: dict[str, Any], kind: str, message: str) -> dict[str, Any]:
    """`task_rescheduled` (a retry the operation asked for) or `task_failed`, with the causes."""
    name, suffix = task_name(row), retry_suffix(row)
    retry_after = outcome.get("retry_after")
    if kind == "retry":
        after = f" [retry_after={_seconds(retry_after)}]" if retry_after is not None else ""
        event = task_event(
            row, "task_rescheduled", f"Task rescheduled '{name}' -> {message}{after}{suffix}"
        )
    else:
        event = task_event(row, "task_failed", f"Task failed '{name}' -> {message}{suffix}")
    causes = list(outcome.get("causes") or [])
    causes.append(
        {
            "message": message,
            "type": outcome.get("exc_type") or "Error",
            "traceback": outcome.get("traceback") or "",
        }
    )
    event["error_causes"] = causes
    return event


def _seconds(value: Any) -> Any:
    """`0.0` reads as `0`, as the number a plugin passed usually was."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
