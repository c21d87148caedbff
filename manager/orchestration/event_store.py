"""Storing execution events and logs, in a stable per-execution order (every state change
writes its events through here)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, event, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from manager.db import Deployment, Event, Execution
from manager.db.base import utcnow

_BUFFER = "qd_events"
_COUNTS = "qd_finished_counts"
# Deployment ids of executions, which never change: saves a join on every event write.
_deployment_ids: dict[str, str | None] = {}


def emit(session: Session, execution: Execution, items: Iterable[dict[str, Any]]) -> None:
    """Queue events of `execution` for this transaction; they are stored, in emission
    order, just before it commits (one counter update and one insert per execution)."""
    rows = list(items)
    if not rows:
        return
    buffered: dict[str, tuple[Execution, list[dict[str, Any]]]] = session.info.setdefault(
        _BUFFER, {}
    )
    buffered.setdefault(execution.id, (execution, []))[1].extend(rows)


def count_finished(session: Session, execution: Execution, n: int = 1) -> None:
    """`n` more finished operations, added by the statement that numbers this transaction's
    events (not a second UPDATE of the row); the object shows them at once."""
    if inspect(execution).attrs.finished_operations.history.has_changes():
        execution.finished_operations += n  # already changed: the flush writes it
        return
    set_committed_value(execution, "finished_operations", execution.finished_operations + n)
    buffered: dict[str, tuple[Execution, list[dict[str, Any]]]] = session.info.setdefault(
        _BUFFER, {}
    )
    buffered.setdefault(execution.id, (execution, []))
    counts: dict[str, int] = session.info.setdefault(_COUNTS, {})
    counts[execution.id] = counts.get(execution.id, 0) + n


@event.listens_for(Session, "before_commit")
def _store_buffered(session: Session) -> None:
    buffered = session.info.pop(_BUFFER, None)
    counts = session.info.pop(_COUNTS, None) or {}
    for execution, rows in (buffered or {}).values():
        append(session, execution, rows, finished=counts.get(execution.id, 0))


@event.listens_for(Session, "after_rollback")
def _drop_buffered(session: Session) -> None:
    session.info.pop(_BUFFER, None)
    session.info.pop(_COUNTS, None)


def deployment_id_of(session: Session, execution: Execution) -> str | None:
    if execution.id not in _deployment_ids:
        if len(_deployment_ids) > 10000:
            _deployment_ids.clear()
        _deployment_ids[execution.id] = (
            session.scalar(select(Deployment.id).where(Deployment.pk == execution.deployment_pk))
            if execution.deployment_pk is not None
            else None
        )
    return _deployment_ids[execution.id]


def append(
    session: Session, execution: Execution, items: Iterable[dict[str, Any]], *, finished: int = 0
) -> int:
    """Store events of one execution, numbered after every event stored before them (and add
    `finished` to its finished operations, see `count_finished`).

    The counter is taken by an UPDATE of the execution row, which holds that row's lock
    until commit: concurrent writers of one execution commit in counter order, so a client
    tailing by offset never sees a later number before an earlier one.
    """
    rows = list(items)
    if not rows and not finished:
        return 0
    executions = cast(Table, Execution.__table__)
    values: dict[str, Any] = {"event_seq": executions.c.event_seq + len(rows)}
    if finished:
        values["finished_operations"] = executions.c.finished_operations + finished
    last = (
        session.connection()
        .execute(
            update(executions)
            .where(executions.c.id == execution.id)
            .values(**values)
            .returning(executions.c.event_seq)
        )
        .scalar_one()
    )
    set_committed_value(execution, "event_seq", last)
    if not rows:
        return 0
    now = utcnow()
    first = last - len(rows) + 1
    deployment_id = deployment_id_of(session, execution)
    event_rows: list[dict[str, Any]] = []
    for seq, item in enumerate(rows, start=first):
        event_rows.append(
            {
                "tenant_pk": execution.tenant_pk,
                "execution_id": execution.id,
                "seq": seq,
                "deployment_id": deployment_id,
                "blueprint_id": execution.blueprint_id,
                "workflow_id": execution.workflow_id,
                "type": item.get("type", "cloudify_event"),
                "event_type": item.get("event_type"),
                "level": item.get("level"),
                "logger": item.get("logger"),
                "message": (item.get("message") or "").replace("\x00", ""),
                "operation": item.get("operation"),
                "node_instance_id": item.get("node_instance_id"),
                "node_name": item.get("node_name"),
                "source_id": item.get("source_id"),
                "target_id": item.get("target_id"),
                "error_causes": item.get("error_causes"),
                "timestamp": now,
                "reported_timestamp": item.get("reported_timestamp") or now,
            }
        )
    # Core, not the ORM bulk path: no RETURNING, no per-row bookkeeping.
    session.connection().execute(cast(Table, Event.__table__).insert(), event_rows)
    return len(event_rows)
