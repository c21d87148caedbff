"""Storing an execution's graph of steps as operation rows, and advancing it: what became
ready runs, inline steps at once and operations by queueing them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from manager.db import Execution, NodeInstance
from manager.db import event_store as events
from manager.db.base import UtcDateTime, unindexed, utcnow
from manager.db.deployments import of_deployment
from manager.orchestration import executions as states
from manager.orchestration.completion import check_completion
from manager.orchestration.operation_states import (
    NOW,
    OPERATIONS,
    PENDING,
    QUEUED,
    SUCCEEDED,
    move_ids,
    moving,
)
from manager.orchestration.outbox import Outbox
from manager.orchestration.task_events import node_of, sending_event, task_event
from manager.workflows.graph import OPERATION, Graph
from wire import json_codec


def store(
    session: Session,
    execution: Execution,
    graph: Graph,
    outbox: Outbox,
    *,
    start: bool = True,
    end_now: bool = True,
) -> None:
    """Insert the graph's rows, start the execution and queue what is ready (`start=False`:
    add the graph to an execution already running). With `end_now=False` an execution
    whose graph has nothing to wait for stays started: the caller ends it after it has
    answered (see `executions.end_if_idle`), so that `POST /executions` never answers with
    a finished execution."""
    graph.compact()
    dependents: dict[str, list[str]] = {}
    for step in graph.steps:
        for dep in step.after:
            dependents.setdefault(dep.id, []).append(step.id)
    rows = [
        {
            "id": step.id,
            "execution_id": execution.id,
            "type": step.type,
            "name": step.name,
            "node_instance_id": step.node_instance_id,
            "state": PENDING,
            "attempt": 0,
            "max_retries": step.max_retries,
            "retry_interval": step.retry_interval,
            "timeout": step.timeout,
            "queue": step.queue,
            "waiting_on": len(step.after),
            "dependents": dependents.get(step.id, []),
            "parameters": step.parameters,
        }
        for step in graph.steps
    ]
    if rows:
        _insert_operations(session, rows)
    execution.total_operations += graph.operation_count
    if start:
        states.transition(session, execution, states.STARTED)
    ready = [step.id for step in graph.steps if not step.after]
    advance(session, execution, ready, outbox)
    if start and end_now:
        check_completion(session, execution, outbox)


# PostgreSQL takes a graph's rows as one JSON document (one parameter, one statement): an
# executemany would send, and psycopg convert, each row's parameters one by one.
_POSTGRES_INSERT = text(
    """
INSERT INTO operations (id, execution_id, type, name, node_instance_id, state, attempt,
    max_retries, retry_interval, timeout, queue, waiting_on, dependents, parameters, created_at)
SELECT r.id, r.execution_id, r.type, r.name, r.node_instance_id, r.state, r.attempt,
    r.max_retries, r.retry_interval, r.timeout, r.queue, r.waiting_on, r.dependents,
    r.parameters, :created_at
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id varchar, execution_id varchar,
    type varchar, name varchar, node_instance_id varchar, state varchar, attempt integer,
    max_retries integer, retry_interval double precision, timeout double precision,
    queue varchar, waiting_on integer, dependents jsonb, parameters jsonb)
"""
).bindparams(bindparam("rows", type_=String()), bindparam("created_at", type_=UtcDateTime()))


def _insert_operations(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert operation rows (without `created_at`, which is now for all)."""
    session.flush()  # (as an ORM insert would: the execution's row is there first)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        parameters = {"rows": json_codec.dumps(rows), "created_at": utcnow()}
        connection.execute(_POSTGRES_INSERT, parameters)
    else:
        now = utcnow()
        connection.execute(insert(OPERATIONS), [{**row, "created_at": now} for row in rows])


# The statements run for every report, built once: building one (and its cache key) cost
# about as much CPU as running it.
_C = OPERATIONS.c
_READY_ROWS = select(
    _C.id, _C.type, _C.name, _C.node_instance_id, _C.parameters, _C.dependents, _C.queue, _C.attempt
).where(_C.id.in_(bindparam("ids", expanding=True)), unindexed(_C.state) == PENDING)
_DECREMENT = (
    update(OPERATIONS)
    .where(_C.id.in_(bindparam("ids", expanding=True)))
    .values(waiting_on=_C.waiting_on - bindparam("n"))
    .returning(_C.id, _C.waiting_on)
)
_QUEUE = moving(QUEUED, only_from=(PENDING,), attempt=_C.attempt + 1, queued_at=NOW, run_after=None)
_SUCCEED_INLINE = moving(SUCCEEDED, only_from=(PENDING,), ended_at=NOW)
_INSTANCES = cast(Table, NodeInstance.__table__)
_SET_STATE = (
    update(_INSTANCES)
    .where(of_deployment(bindparam("in_deployment"), bindparam("ids", expanding=True)))
    .values(state=bindparam("new_state"), version=_INSTANCES.c.version + 1)
)


def advance(session: Session, execution: Execution, ready: Sequence[str], outbox: Outbox) -> None:
    """Run what became ready: inline steps now, operations by queueing them.

    Waves of inline steps are applied in bulk: one UPDATE per state change kind, one insert
    of events, one decrement of their dependents' counters.
    """
    held = execution.status != states.STARTED
    while ready:
        rows = session.connection().execute(_READY_ROWS, {"ids": list(ready)}).all()
        dry = execution.is_dry_run
        inline = [r for r in rows if r.type != OPERATION or dry]
        operations = [r for r in rows if r.type == OPERATION and not dry]
        if operations and not held:
            _queue(session, execution, operations, outbox)
        ready = []
        if not inline:
            break
        _apply_inline(session, execution, inline)
        ready = _finish(session, [r.id for r in inline], [d for r in inline for d in r.dependents])


def _queue(session: Session, execution: Execution, rows: Sequence[Any], outbox: Outbox) -> None:
    move_ids(session, _QUEUE, [r.id for r in rows], now=utcnow())
    for row in rows:
        outbox.add(row.id, row.attempt + 1, row.queue)
    events.emit(session, execution, [sending_event(row) for row in rows])


def _apply_inline(session: Session, execution: Execution, rows: Sequence[Any]) -> None:
    messages: list[dict[str, Any]] = []
    steps: list[tuple[str | None, list[dict[str, Any]]]] = []
    for row in rows:
        if row.type == OPERATION:  # a dry run: record what would have run
            name = row.parameters.get("task")
            messages.append(sending_event(row))
            messages.append(task_event(row, "task_succeeded", f"Task succeeded '{name}' (dry run)"))
            execution.finished_operations += 1
            actions = row.parameters.get("then") or []
        else:
            actions = row.parameters.get("actions") or []
        steps.append((row.node_instance_id, actions))
    events.emit(session, execution, messages)
    _apply_actions(session, execution, steps)


def _apply_actions(
    session: Session, execution: Execution, steps: Sequence[tuple[str | None, list[Any]]]
) -> None:
    """The state changes and messages of inline steps (or of an operation's `then`), in
    order: one UPDATE per resulting state, one batch of events."""
    final: dict[str, str] = {}  # (the last state an instance reaches, in step order)
    messages: list[dict[str, Any]] = []
    for instance_id, actions in steps:
        for action in actions:
            if action.get("state") is not None and instance_id is not None:
                final[instance_id] = action["state"]
            if action.get("message"):
                messages.append(
                    {
                        "type": "cloudify_event",
                        "event_type": "workflow_node_event",
                        "message": action["message"],
                        "node_instance_id": instance_id,
                        "node_name": node_of(instance_id),
                    }
                )
    by_state: dict[str, list[str]] = {}
    for instance_id, state in final.items():
        by_state.setdefault(state, []).append(instance_id)
    if by_state and not execution.is_dry_run:
        for state, instance_ids in by_state.items():
            session.connection().execute(
                _SET_STATE,
                {"in_deployment": execution.deployment_pk, "ids": instance_ids, "new_state": state},
            )
    events.emit(session, execution, messages)


def _finish(session: Session, done: Sequence[str], dependents: Sequence[str]) -> list[str]:
    """Mark inline steps `done` succeeded and count them off their dependents; returns the
    newly ready."""
    move_ids(session, _SUCCEED_INLINE, done, now=utcnow())
    return _decrement(session, dependents)


def _decrement(session: Session, dependents: Sequence[str]) -> list[str]:
    if not dependents:
        return []
    counts: dict[str, int] = {}
    for dep in dependents:
        counts[dep] = counts.get(dep, 0) + 1
    ready: list[str] = []
    by_count: dict[int, list[str]] = {}
    for dep, n in counts.items():
        by_count.setdefault(n, []).append(dep)
    for n, ids in by_count.items():
        result = session.connection().execute(_DECREMENT, {"ids": ids, "n": n})
        ready.extend(row.id for row in result if row.waiting_on <= 0)
    return ready


def go_on(session: Session, execution: Execution, done: Sequence[Any], outbox: Outbox) -> None:
    """After operations that let their dependents run: their `then`, then what became ready."""
    session.flush()  # the graph is read and written through the table from here on
    steps = [
        (row.node_instance_id, row.parameters["then"]) for row in done if row.parameters.get("then")
    ]
    if steps:
        _apply_actions(session, execution, steps)
    ready = _decrement(session, [dep for row in done for dep in row.dependents])
    advance(session, execution, ready, outbox)
