"""Bodies of the calls operation code makes back (cloudify-common's REST client): events and
logs, operation bookkeeping, function evaluation; and the operation shape it reads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from manager.db import Operation
from manager.schemas.common import iso

# Cloudify's operation states (plugin-dispatch.md §14), as operation code may PATCH them.
OPERATION_STATES = (
    "pending",
    "sending",
    "sent",
    "started",
    "rescheduled",
    "response-sent",
    "succeeded",
    "failed",
)
# Ours -> Cloudify's: queued means published to the workers ("sent"), running is "started".
_STATE_NAMES = {
    "pending": "pending",
    "queued": "sent",
    "running": "started",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
}
# Graph step types -> the task class names Cloudify stores in `operations.type`.
_TASK_TYPES = {
    "operation": "RemoteWorkflowTask",
    "set_state": "SetNodeInstanceStateTask",
    "event": "SendNodeEventTask",
}


class EventsCreate(BaseModel):
    """`client.events.create(events, logs, execution_id, ...)`: one batch, usually one item."""

    model_config = ConfigDict(extra="ignore")
    events: list[dict[str, Any]] | None = None
    logs: list[dict[str, Any]] | None = None
    execution_id: str | None = None
    execution_group_id: str | None = None
    agent_name: str | None = None
    manager_name: str | None = None


class OperationUpdate(BaseModel):
    """`client.operations.update(id, state, ...)`."""

    model_config = ConfigDict(extra="ignore")
    state: str
    result: Any = None
    exception: Any = None
    exception_causes: Any = None
    manager_name: str | None = None
    agent_name: str | None = None


class FunctionsEvaluate(BaseModel):
    """`client.evaluate.functions(deployment_id, context, payload)`."""

    model_config = ConfigDict(extra="ignore")
    deployment_id: str
    context: dict[str, Any] | None = None
    payload: Any = None


class OperationRead(BaseModel):
    """An operation as `client.operations.get` returns it."""

    id: str
    name: str | None = None
    state: str | None = None
    type: str | None = None
    dependencies: list[Any] | None = None
    tasks_graph_id: str | None = None
    execution_id: str | None = None
    created_at: str | None = None
    manager_name: str | None = None
    agent_name: str | None = None
    # task_name, current_retries, total_retries, retry_interval, info, error
    parameters: dict[str, Any] | None = None
    # Not in Cloudify's shape (extra keys are harmless to its client): the node instance an
    # operation is for, and the operation's own state, for dashboards drawing the graph.
    node_instance_id: str | None = None
    graph_state: str | None = None


OPERATION_FIELDS = tuple(OperationRead.model_fields)


class EventsStored(BaseModel):
    """`POST /events` when something was stored (an empty batch answers 204)."""

    stored: int


class FunctionsEvaluated(BaseModel):
    deployment_id: str
    payload: Any


def operation_read(operation: Operation, dependencies: list[str] | None = None) -> dict[str, Any]:
    """An operation as `client.operations.get` returns it (one row of Cloudify's table);
    `dependencies` are the ids of the operations it waits for, where the caller knows them."""
    params = operation.parameters or {}
    retries = max(operation.attempt - 1 - int(params.get("retry_base", 0)), 0)
    return {
        "id": operation.id,
        "name": operation.name,
        "state": _STATE_NAMES.get(operation.state, operation.state),
        "type": _TASK_TYPES.get(operation.type, "NOPLocalWorkflowTask"),
        "dependencies": dependencies or [],
        "tasks_graph_id": None,
        "execution_id": operation.execution_id,
        "created_at": iso(operation.created_at),
        "manager_name": operation.worker,
        "agent_name": None,
        "parameters": {
            "task_name": params.get("task"),
            "current_retries": retries,
            "total_retries": operation.max_retries,
            "retry_interval": operation.retry_interval,
            "info": params.get("message"),
            "error": operation.error,
        },
        "node_instance_id": operation.node_instance_id,
        "graph_state": operation.state,
    }
