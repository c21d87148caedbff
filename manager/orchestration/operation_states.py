"""Operation states, which state may follow which, and the one write path for a change of state.

pending   waiting for `waiting_on` dependencies; with `waiting_on == 0` it is ready but
          held (its execution is cancelling, cancelled or failed) until a resume.
queued    published (or due to be, after `run_after`) for a worker to claim.
running   claimed by a worker for attempt `attempt`, which holds a lease on it (its
          `started_at` is empty while a batch holds it unstarted, see `claims.Claimed`).
succeeded, failed, cancelled.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, Update, bindparam, update
from sqlalchemy.orm import Session

from manager.db import Operation
from manager.db.base import UtcDateTime, unindexed
from manager.errors import Conflict


class OperationState(StrEnum):
    """An operation's `state` (see the module's docstring). The members are strings equal
    to their values, which are what the database stores. Not an execution's status
    (`orchestration.executions.ExecutionState`), though both have a `failed` and a
    `cancelled`."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The module's short names for the states, used everywhere.
PENDING, QUEUED, RUNNING = OperationState.PENDING, OperationState.QUEUED, OperationState.RUNNING
SUCCEEDED, FAILED, CANCELLED = (
    OperationState.SUCCEEDED,
    OperationState.FAILED,
    OperationState.CANCELLED,
)
ACTIVE = (QUEUED, RUNNING)

# Which state may follow which. Every write of `state` goes through `move`, whose UPDATE
# matches only rows in a state allowed to go to the target: a late or repeated write (a
# report after a kill, a claim after a cancel) then changes nothing instead of
# resurrecting an operation.
TRANSITIONS: dict[str, frozenset[str]] = {
    # Queued when ready; inline steps (and a dry run's operations) succeed where they stand.
    PENDING: frozenset({QUEUED, SUCCEEDED}),
    # Claimed; or held back when its execution stops starting operations.
    QUEUED: frozenset({RUNNING, PENDING}),
    # Its result; a retry or an attempt given back (queued, or held when stopping); a kill.
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED, QUEUED, PENDING}),
    # Only a resume runs them again.
    FAILED: frozenset({QUEUED}),
    CANCELLED: frozenset({QUEUED}),
    SUCCEEDED: frozenset(),
}

# The hot paths write through the table, not the ORM: same rows, a fraction of the work.
OPERATIONS = cast(Table, Operation.__table__)


def sources(target: str) -> frozenset[str]:
    """The states allowed to go to `target`."""
    return frozenset(state for state, targets in TRANSITIONS.items() if target in targets)


# (Computed once: `move` is on the hot path.)
_SOURCES = {target: sources(target) for target in TRANSITIONS}


def move(
    session: Session,
    target: str,
    *where: ColumnElement[bool],
    only_from: Collection[str] | None = None,
    returning: Collection[Any] = (),
    **values: Any,
) -> CursorResult[Any]:
    """Move the operations matching `where` to state `target`, writing `values` with it, in
    one UPDATE. Only rows in a state allowed to go to `target` change: all such states, or
    `only_from` (which must be among them) when the change means a narrower one."""
    statement = _update(target, where, only_from, returning, values)
    return session.connection().execute(statement)


# The time a statement built by `moving` writes, given as `now=` to `move_ids`.
NOW = bindparam("now", type_=UtcDateTime())


def moving(
    target: str,
    *,
    only_from: Collection[str] | None = None,
    returning: Collection[Any] = (),
    **values: Any,
) -> Update:
    """`move` of the operations whose ids are the `ids` parameter, as a statement a hot path
    builds once and runs with `move_ids` (building one cost about as much CPU as running
    it). Values may hold bound parameters (`bindparam`), given when it runs."""
    ids = OPERATIONS.c.id.in_(bindparam("ids", expanding=True))
    return _update(target, (ids,), only_from, returning, values)


def move_ids(
    session: Session, statement: Update, ids: Collection[str], **parameters: Any
) -> CursorResult[Any]:
    """Run a statement `moving` built, for these operation ids."""
    return session.connection().execute(statement, {"ids": list(ids), **parameters})


def _update(
    target: str,
    where: Collection[ColumnElement[bool]],
    only_from: Collection[str] | None,
    returning: Collection[Any],
    values: dict[str, Any],
) -> Update:
    allowed = _SOURCES[target]
    if only_from is not None:
        wrong = set(only_from) - allowed
        if wrong:
            names = sorted(str(state) for state in wrong)
            raise ValueError(f"Operations cannot go from {names} to `{target}`")
        allowed = frozenset(only_from)
    # (Every move names its rows by id or by execution: the state only narrows them.)
    state = unindexed(OPERATIONS.c.state)
    among = state == next(iter(allowed)) if len(allowed) == 1 else state.in_(sorted(allowed))
    statement = update(OPERATIONS).where(*where, among).values(state=target, **values)
    return statement.returning(*returning) if returning else statement


class StaleReport(Conflict):
    """A claim or report for an attempt that is not (or no longer) the current one."""

    error_code = "operation_stale_error"
