"""The lock order of every change of an execution's graph: the execution's row first, then
its operations' rows.

So the applications of results of one execution happen one at a time, and the "is anything
still running?" check that ends an execution can never miss a concurrent change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ScalarSelect, select
from sqlalchemy.orm import Session, lazyload

from manager.db import Execution
from manager.db.base import unindexed
from manager.orchestration.operation_states import OPERATIONS, StaleReport


def lock_execution(session: Session, execution_id: str | ScalarSelect[Any]) -> Execution:
    """The execution row, locked until commit; relationships load only when touched."""
    execution = session.scalars(
        select(Execution)
        .where(Execution.id == execution_id)
        .options(lazyload("*"))
        .with_for_update(of=Execution)
    ).first()
    if execution is None:
        raise StaleReport(f"Execution `{execution_id}` does not exist")
    return execution


def _lock_owner(session: Session, operation_id: str) -> Execution:
    owner = select(OPERATIONS.c.execution_id).where(OPERATIONS.c.id == operation_id)
    try:
        return lock_execution(session, owner.scalar_subquery())
    except StaleReport:
        raise StaleReport(f"Operation `{operation_id}` does not exist") from None


def locked_row(session: Session, operation_id: str) -> tuple[Any, Execution]:
    """The operation's row, locked, after its execution's row."""
    execution = _lock_owner(session, operation_id)
    session.flush()  # (this transaction's changes to it, if any, are read back)
    row = (
        session.connection()
        .execute(select(OPERATIONS).where(OPERATIONS.c.id == operation_id).with_for_update())
        .one()
    )
    return row, execution


def locked_groups(
    session: Session,
    operation_ids: Sequence[str],
    missing: dict[str, str],
    owners_given: dict[str, str] | None = None,
) -> list[tuple[Execution, list[Any]]]:
    """The rows of `operation_ids` with their executions, each execution's row locked before
    its operations' rows (executions in id order, so two batches never wait on each other);
    ids of no operation are entered in `missing`. `owners_given`: the executions of some
    of the operations, as the worker knows them (an operation not in the execution given
    counts as missing)."""
    given = owners_given or {}
    if len(operation_ids) == 1 and not given:
        # (A batch of one: its execution is locked by the operation's id, one query less.)
        try:
            row, execution = locked_row(session, operation_ids[0])
        except StaleReport as exc:
            missing[operation_ids[0]] = str(exc)
            return []
        return [(execution, [row])]
    owners: dict[str, list[str]] = {}
    for operation_id in operation_ids:
        if operation_id in given:
            owners.setdefault(given[operation_id], []).append(operation_id)
    unknown = [i for i in operation_ids if i not in given]
    if unknown:
        for operation_id, execution_id in session.connection().execute(
            select(OPERATIONS.c.id, OPERATIONS.c.execution_id).where(OPERATIONS.c.id.in_(unknown))
        ):
            owners.setdefault(execution_id, []).append(operation_id)
    groups = []
    found: set[str] = set()
    for execution_id in sorted(owners):
        try:
            execution = lock_execution(session, execution_id)
        except StaleReport:
            continue
        session.flush()  # (this transaction's changes to its rows, if any, are read back)
        rows = {
            row.id: row
            for row in session.connection().execute(
                select(OPERATIONS)
                .where(
                    OPERATIONS.c.id.in_(owners[execution_id]),
                    unindexed(OPERATIONS.c.execution_id) == execution_id,
                )
                .order_by(OPERATIONS.c.id)
                .with_for_update()
            )
        }
        found |= rows.keys()
        groups.append((execution, [rows[i] for i in operation_ids if i in rows]))
    for operation_id in operation_ids:
        if operation_id not in found:
            missing[operation_id] = f"Operation `{operation_id}` does not exist"
    return groups
