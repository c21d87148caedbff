"""Storing and listing execution events and logs, in a stable per-execution order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from manager.db import Event, Execution
from manager.db.base import utcnow


def append(session: Session, execution: Execution, items: Iterable[dict[str, Any]]) -> int:
    """Store events of one execution, numbered after every event stored before them.

    The counter is taken by an UPDATE of the execution row, which holds that row's lock
    until commit: concurrent writers of one execution commit in counter order, so a client
    tailing by offset never sees a later number before an earlier one.
    """
    rows = list(items)
    if not rows:
        return 0
    last = session.execute(
        update(Execution)
        .where(Execution.id == execution.id)
        .values(event_seq=Execution.event_seq + len(rows))
        .returning(Execution.event_seq)
    ).scalar_one()
    set_committed_value(execution, "event_seq", last)
    now = utcnow()
    first = last - len(rows) + 1
    deployment_id = execution.deployment_id
    values = []
    for seq, item in enumerate(rows, start=first):
        values.append(
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
    session.execute(insert(Event), values)
    return len(values)
