"""The execution state machine: allowed transitions and what each one stamps and records."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.orm import Session

from manager.db import Execution
from manager.db import event_store as events
from manager.db.base import utcnow
from manager.errors import Conflict
from manager.orchestration.group_targets import join_target_group


class ExecutionState(StrEnum):
    """An execution's `status`. The members are strings equal to their values, which are
    what the database stores and the API answers."""

    PENDING = "pending"
    STARTED = "started"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    CANCELLING = "cancelling"
    FORCE_CANCELLING = "force_cancelling"
    KILL_CANCELLING = "kill_cancelling"
    TERMINATED = "terminated"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The module's short names for the states (`states.STARTED`, ...), used everywhere.
PENDING, STARTED, QUEUED, SCHEDULED = (
    ExecutionState.PENDING,
    ExecutionState.STARTED,
    ExecutionState.QUEUED,
    ExecutionState.SCHEDULED,
)
CANCELLING, FORCE_CANCELLING, KILL_CANCELLING = (
    ExecutionState.CANCELLING,
    ExecutionState.FORCE_CANCELLING,
    ExecutionState.KILL_CANCELLING,
)
TERMINATED, FAILED, CANCELLED = (
    ExecutionState.TERMINATED,
    ExecutionState.FAILED,
    ExecutionState.CANCELLED,
)
END_STATES = frozenset({TERMINATED, FAILED, CANCELLED})
ACTIVE_STATES = frozenset({PENDING, STARTED, CANCELLING, FORCE_CANCELLING, KILL_CANCELLING})

# Anything not listed is refused with 409: e.g. a late "terminated" report must not
# resurrect an execution a user already cancelled, and an ended one never restarts
# except through resume (failed/cancelled -> started).
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({STARTED, QUEUED, CANCELLED, FAILED, KILL_CANCELLING}),
    QUEUED: frozenset({PENDING, STARTED, CANCELLED}),
    SCHEDULED: frozenset({PENDING, QUEUED, CANCELLED}),
    STARTED: frozenset({TERMINATED, FAILED, CANCELLING, FORCE_CANCELLING, KILL_CANCELLING}),
    CANCELLING: frozenset({CANCELLED, FAILED, TERMINATED, FORCE_CANCELLING, KILL_CANCELLING}),
    FORCE_CANCELLING: frozenset({CANCELLED, FAILED, KILL_CANCELLING}),
    KILL_CANCELLING: frozenset({CANCELLED}),
    FAILED: frozenset({STARTED}),
    CANCELLED: frozenset({STARTED}),
    TERMINATED: frozenset(),
}

_END_EVENTS: dict[str, str] = {
    TERMINATED: "workflow_succeeded",
    FAILED: "workflow_failed",
    CANCELLED: "workflow_cancelled",
}


def display(status: str) -> str:
    return "completed" if status == TERMINATED else status


def transition(session: Session, execution: Execution, status: str, *, error: str = "") -> None:
    """Move `execution` to `status`; an ended execution gets its final event first.

    The final event and the status are written in the same transaction, so a client that
    sees the end status always finds every event (the CLI drains events once after that).
    """
    if status == execution.status:
        return
    if status not in TRANSITIONS[execution.status]:
        raise Conflict(
            f"Execution `{execution.id}` cannot go from `{execution.status}` to `{status}`"
        )
    now = utcnow()
    if status == STARTED:
        execution.started_at = execution.started_at or now
        if execution.status == PENDING:
            events.emit(session, execution, [workflow_event(execution, "workflow_started")])
    if status in END_STATES:
        if status == FAILED and not error:
            error = "The execution failed"  # the CLI reports success on an empty error
        message_event = workflow_event(execution, _END_EVENTS[status], error=error)
        events.emit(session, execution, [message_event])
        execution.ended_at = now
    if error or status in END_STATES:
        execution.error = error
    execution.status = status
    if status in (TERMINATED, FAILED):
        join_target_group(session, execution, succeeded=status == TERMINATED)


def workflow_event(execution: Execution, event_type: str, *, error: str = "") -> dict[str, object]:
    texts = {
        "workflow_started": f"Starting '{execution.workflow_id}' workflow execution",
        "workflow_succeeded": f"'{execution.workflow_id}' workflow execution succeeded",
        "workflow_failed": f"'{execution.workflow_id}' workflow execution failed: {error}",
        "workflow_cancelled": f"'{execution.workflow_id}' workflow execution cancelled",
    }
    return {"type": "cloudify_event", "event_type": event_type, "message": texts[event_type]}
