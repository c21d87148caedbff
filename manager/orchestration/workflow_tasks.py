"""What a custom workflow's body asks of the API while it runs: operations added to its
execution's graph (once each, however often the body runs), their states, node instance
states and events.

Every request names the body's running attempt and is applied under the execution's lock,
like a worker's result. An operation a body asks for gets the id `task_id(body, key)`,
where the key is the order in which the body created it: a body run again (its worker
died) asks for the same ids, and is answered with the rows that already exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from manager.db import Execution, NodeInstance
from manager.db import event_store as events
from manager.db.deployments import of_deployment
from manager.orchestration import executions as states
from manager.orchestration.graph_store import store
from manager.orchestration.locks import locked_row
from manager.orchestration.operation_states import OPERATIONS, RUNNING, StaleReport
from manager.orchestration.outbox import Outbox
from manager.orchestration.task_events import node_of
from manager.orchestration.topologies import load_topology
from manager.workflows.graph import Graph
from manager.workflows.lifecycle import Builder, RetryPolicy
from manager.workflows.topology import AgentRequired
from wire.workflows import TaskRequest, TaskState

_NAMESPACE = uuid.UUID("6b1f3b9e-3c52-4d0e-9a43-0c2f4fb1d6a1")


def task_id(body_id: str, key: str) -> str:
    """The operation id of the body's task `key`: the same on every run of the body."""
    return str(uuid.uuid5(_NAMESPACE, f"{body_id}/{key}"))


def locked_body(session: Session, body_id: str, attempt: int) -> tuple[Any, Execution]:
    """The body's row and execution, locked; 409 unless this attempt of it is running."""
    row, execution = locked_row(session, body_id)
    if "workflow" not in row.parameters:
        raise StaleReport(f"Operation `{body_id}` is not a workflow body")
    if row.state != RUNNING or row.attempt != attempt:
        raise StaleReport(
            f"Workflow body `{body_id}` attempt {attempt} is not running "
            f"(it is {row.state}, attempt {row.attempt}): stop"
        )
    return row, execution


def submit(
    session: Session,
    execution: Execution,
    body: Any,
    tasks: Sequence[TaskRequest],
    retries: RetryPolicy,
    outbox: Outbox,
) -> dict[str, TaskState]:
    """Add the operations of `tasks` not added yet to the execution (queued at once: they
    depend on nothing in the graph, the body orders them); the state of each, by key."""
    ids = {t["key"]: task_id(body.id, t["key"]) for t in tasks}
    answers = _states(session, ids)
    new = [t for t in tasks if t["key"] not in answers]
    if not new:
        return answers
    deployment = execution.deployment
    assert deployment is not None
    topology = load_topology(session, deployment)
    graph = Graph()
    builder = Builder(topology, graph, retries)
    for task in new:
        key, name = task["key"], task["operation"]
        instance = topology.instances.get(task["node_instance_id"])
        if instance is None:
            answers[key] = _failed(f"No node instance `{task['node_instance_id']}`")
            continue
        definition = builder.mapped(instance, name)
        if definition is None:
            if name in instance.node.operations:  # declared without an implementation
                answers[key] = {"state": "succeeded", "error": None}
            else:
                answers[key] = _failed(
                    f"Operation `{name}` is not defined on node `{instance.node.id}`"
                )
            continue
        try:
            step = builder.operation(
                instance,
                name,
                definition,
                kwargs=task.get("kwargs") or None,
                allow_kwargs_override=task.get("allow_kwargs_override"),
                # (Its failure is the body's to handle: the body decides whether it fails.)
                ignore_failure=True,
            )
        except AgentRequired as exc:  # (a host whose agent Quarterdeck cannot install)
            answers[key] = _failed(exc.message)
            continue
        step.id = ids[key]
        step.parameters["workflow_body"] = body.id
        answers[key] = {"state": "pending", "error": None}
    if graph.steps:
        store(session, execution, graph, outbox, start=False)
        answers.update(_states(session, {k: ids[k] for k in answers if k in ids}))
    return answers


def task_states(session: Session, body: Any, keys: Sequence[str]) -> dict[str, TaskState]:
    return _states(session, {key: task_id(body.id, key) for key in keys})


def _states(session: Session, ids: dict[str, str]) -> dict[str, TaskState]:
    if not ids:
        return {}
    keys = {operation_id: key for key, operation_id in ids.items()}
    c = OPERATIONS.c
    rows = session.connection().execute(select(c.id, c.state, c.error).where(c.id.in_(list(keys))))
    return {
        keys[row.id]: {"state": row.state, "error": (row.error or {}).get("message")}
        for row in rows
    }


def _failed(message: str) -> TaskState:
    return {"state": "failed", "error": message}


def set_state(session: Session, execution: Execution, instance_id: str, state: str) -> None:
    session.execute(
        update(NodeInstance)
        .where(of_deployment(execution.deployment_pk, [instance_id]))
        .values(state=state, version=NodeInstance.version + 1)
    )


def send_event(
    session: Session, execution: Execution, message: str, instance_id: str | None
) -> None:
    """A workflow's own event (`ctx.send_event`, `instance.send_event`)."""
    event: dict[str, Any] = {
        "type": "cloudify_event",
        "event_type": "workflow_node_event" if instance_id else "workflow_event",
        "message": message,
    }
    if instance_id:
        event["node_instance_id"] = instance_id
        event["node_name"] = node_of(instance_id)
    events.emit(session, execution, [event])


def running(execution: Execution) -> bool:
    """Whether the body may go on (False: its execution is being cancelled)."""
    return execution.status == states.STARTED
