"""Storing execution events and logs, in a stable per-execution order (every state change
writes its events through here)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    Table,
    bindparam,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from manager.db import Deployment, Event, Execution
from manager.db.base import UtcDateTime, utcnow
from wire import json_codec

_BUFFER = "qd_events"
_COUNTS = "qd_finished_counts"
# Deployment ids of executions, which never change (saves a join on every event write): one
# dict per database, shared by its sessions through their `info`.
_DEPLOYMENT_IDS = "qd_deployment_ids"
_DEPLOYMENT_IDS_KEPT = 10000
# What this transaction stored events for, told to the commit listeners once it commits.
_STORED = "qd_events_stored"
# The callables told about committed events (manager.live_events publishes them to Redis):
# one list per database, shared by its sessions through their `info`.
_LISTENERS = "qd_event_listeners"

# (execution id, deployment id or None, tenant pk) of executions that got new events.
StoredEvents = list[tuple[str, str | None, int]]


def watch(factories: list[sessionmaker[Session]]) -> None:
    """Store the events sessions of `factories` queue (`emit`) just before each commits,
    and drop them on rollback. Called once per database (manager.db.engine.Database): the
    listeners are on its session factories, not on every SQLAlchemy session in the process.
    """
    deployment_ids: dict[str, str | None] = {}
    listeners: list[Callable[[StoredEvents], None]] = []
    for factory in factories:
        info = factory.kw.setdefault("info", {})
        info[_DEPLOYMENT_IDS] = deployment_ids
        info[_LISTENERS] = listeners
        event.listen(factory, "before_commit", _store_buffered)
        event.listen(factory, "after_commit", _tell_listeners)
        event.listen(factory, "after_rollback", _drop_buffered)


def on_committed(
    factories: list[sessionmaker[Session]], listener: Callable[[StoredEvents], None]
) -> None:
    """Call `listener` after each commit of these factories' sessions that stored events,
    with the executions whose events it stored. A listener must be quick and must not
    raise: it runs inside the committing request, after the data is safe."""
    for factory in factories:
        listeners = factory.kw.get("info", {}).get(_LISTENERS)
        if listeners is not None and listener not in listeners:
            listeners.append(listener)


def listed() -> Select[Any]:
    """Every stored event, before a list's tenant and filters."""
    return select(Event)


def emit(session: Session, execution: Execution, items: Iterable[dict[str, Any]]) -> None:
    """Queue events of `execution` for this transaction; they are stored, in emission
    order, just before it commits (one counter update and one insert per execution)."""
    rows = list(items)
    if not rows:
        return
    _check_watched(session)
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
    _check_watched(session)
    set_committed_value(execution, "finished_operations", execution.finished_operations + n)
    buffered: dict[str, tuple[Execution, list[dict[str, Any]]]] = session.info.setdefault(
        _BUFFER, {}
    )
    buffered.setdefault(execution.id, (execution, []))
    counts: dict[str, int] = session.info.setdefault(_COUNTS, {})
    counts[execution.id] = counts.get(execution.id, 0) + n


def _check_watched(session: Session) -> None:
    # Events queued by a session nobody stores at commit would be lost without a word.
    if _DEPLOYMENT_IDS not in session.info:
        raise RuntimeError(
            "events queued on a session that does not store them: open sessions through "
            "manager.db.engine.Database (whose factories events.watch listens to)"
        )


def _store_buffered(session: Session) -> None:
    buffered = session.info.pop(_BUFFER, None)
    counts = session.info.pop(_COUNTS, None) or {}
    for execution, rows in (buffered or {}).values():
        append(session, execution, rows, finished=counts.get(execution.id, 0))


def _drop_buffered(session: Session) -> None:
    session.info.pop(_BUFFER, None)
    session.info.pop(_COUNTS, None)
    session.info.pop(_STORED, None)


def _tell_listeners(session: Session) -> None:
    stored: dict[str, tuple[str | None, int]] | None = session.info.pop(_STORED, None)
    if not stored:
        return
    items = [(execution_id, dep, tenant) for execution_id, (dep, tenant) in stored.items()]
    for listener in session.info.get(_LISTENERS, ()):
        listener(items)


def deployment_id_of(session: Session, execution: Execution) -> str | None:
    deployment_ids: dict[str, str | None] = session.info.setdefault(_DEPLOYMENT_IDS, {})
    if execution.id not in deployment_ids:
        if len(deployment_ids) > _DEPLOYMENT_IDS_KEPT:
            deployment_ids.clear()
        deployment_ids[execution.id] = (
            session.scalar(select(Deployment.id).where(Deployment.pk == execution.deployment_pk))
            if execution.deployment_pk is not None
            else None
        )
    return deployment_ids[execution.id]


_EXECUTIONS = cast(Table, Execution.__table__)
# Built once (building one cost about as much as running it): number the events, and count
# finished operations with them.
_NUMBER = (
    update(_EXECUTIONS)
    .where(_EXECUTIONS.c.id == bindparam("execution_id"))
    .values(event_seq=_EXECUTIONS.c.event_seq + bindparam("events"))
    .returning(_EXECUTIONS.c.event_seq)
)
_NUMBER_AND_COUNT = _NUMBER.values(
    finished_operations=_EXECUTIONS.c.finished_operations + bindparam("finished")
)


# An event's own columns, besides its type, message and times.
_PER_EVENT = (
    "event_type",
    "level",
    "logger",
    "operation",
    "node_instance_id",
    "node_name",
    "source_id",
    "target_id",
    "error_causes",
)

# PostgreSQL takes a transaction's events of one execution as one JSON document, numbered by
# their order in it; what they share is given once. (COPY took a quarter of the CPU of an
# INSERT per row, but still formatted every value of every row in this process.)
_POSTGRES_INSERT = text(
    """
INSERT INTO events (tenant_pk, execution_id, seq, deployment_id, blueprint_id, workflow_id,
    type, message, event_type, level, logger, operation, node_instance_id, node_name,
    source_id, target_id, error_causes, timestamp, reported_timestamp)
SELECT :tenant_pk, :execution_id, :first + r.n - 1, :deployment_id, :blueprint_id,
    :workflow_id, coalesce(r.type, 'cloudify_event'), coalesce(r.message, ''), r.event_type,
    r.level, r.logger, r.operation, r.node_instance_id, r.node_name, r.source_id,
    r.target_id, r.error_causes, :now, coalesce(r.reported_timestamp, :now)
FROM ROWS FROM (
    jsonb_to_recordset(CAST(:rows AS jsonb)) AS (type varchar, message text,
        event_type varchar, level varchar, logger varchar, operation varchar,
        node_instance_id varchar, node_name varchar, source_id varchar, target_id varchar,
        error_causes jsonb, reported_timestamp timestamptz)
) WITH ORDINALITY AS r(type, message, event_type, level, logger, operation,
    node_instance_id, node_name, source_id, target_id, error_causes, reported_timestamp, n)
"""
).bindparams(
    bindparam("rows", type_=String()),
    bindparam("now", type_=UtcDateTime()),
    bindparam("first", type_=BigInteger()),
)


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
    last = (
        session.connection()
        .execute(
            _NUMBER_AND_COUNT if finished else _NUMBER,
            {"execution_id": execution.id, "events": len(rows), "finished": finished},
        )
        .scalar_one()
    )
    set_committed_value(execution, "event_seq", last)
    if not rows:
        return 0
    now = utcnow()
    first = last - len(rows) + 1
    deployment_id = deployment_id_of(session, execution)
    for index, item in enumerate(rows):
        message = item.get("message")
        if isinstance(message, str) and "\x00" in message:  # (text cannot hold NUL)
            rows[index] = {**item, "message": message.replace("\x00", "")}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            _POSTGRES_INSERT,
            {
                "rows": json_codec.dumps(rows, _iso),
                "first": first,
                "tenant_pk": execution.tenant_pk,
                "execution_id": execution.id,
                "deployment_id": deployment_id,
                "blueprint_id": execution.blueprint_id,
                "workflow_id": execution.workflow_id,
                "now": now,
            },
        )
    else:
        # Core, not the ORM bulk path: no RETURNING, no per-row bookkeeping.
        connection.execute(
            cast(Table, Event.__table__).insert(),
            [
                {
                    "tenant_pk": execution.tenant_pk,
                    "execution_id": execution.id,
                    "seq": seq,
                    "deployment_id": deployment_id,
                    "blueprint_id": execution.blueprint_id,
                    "workflow_id": execution.workflow_id,
                    "type": item.get("type") or "cloudify_event",
                    "message": item.get("message") or "",
                    **{name: item.get(name) for name in _PER_EVENT},
                    "timestamp": now,
                    "reported_timestamp": item.get("reported_timestamp") or now,
                }
                for seq, item in enumerate(rows, start=first)
            ],
        )
    stored: dict[str, tuple[str | None, int]] = session.info.setdefault(_STORED, {})
    stored[execution.id] = (deployment_id, execution.tenant_pk)
    return len(rows)


def _iso(value: Any) -> Any:
    """JSON for an event's time (for the standard library, when orjson cannot take a row)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
