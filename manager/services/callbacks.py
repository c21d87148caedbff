"""What operation code calls back (cloudify-common's REST client, plugin-dispatch.md §7, §9):
storing its logs and events, reading its operation, evaluating functions.

Operation state belongs to the worker protocol (manager.orchestration): a plugin's own
bookkeeping PATCH is checked and acknowledged, never applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from manager.db import Execution, Operation
from manager.db import event_store as events
from manager.errors import BadParameters, NotFound
from manager.schemas.callbacks import OPERATION_STATES, EventsCreate, OperationUpdate
from manager.services import deployments, executions
from manager.services.function_storage import DeploymentStorage, evaluation_error
from manager.services.identity import Principal
from manager.services.tenancy import visible

# A batch is one record in cloudify-common 7.0.5; bigger ones come from other clients.
MAX_BATCH = 1000


def store_events(session: Session, principal: Principal, body: EventsCreate) -> int:
    """Append a batch to its execution's event stream; returns how many items were stored.

    The execution row is locked first (as every writer of an execution's stream does), so
    the numbering of its events follows commit order.
    """
    items = [(item, "cloudify_event") for item in body.events or []]
    items += [(item, "cloudify_log") for item in body.logs or []]
    if not items:
        return 0
    if len(items) > MAX_BATCH:
        raise BadParameters(f"At most {MAX_BATCH} events and logs can be sent at once")
    execution_id = body.execution_id or (principal.scope.execution_id if principal.scope else None)
    if not execution_id:
        raise BadParameters(
            "`execution_id` is required: events and logs belong to an execution "
            "(execution groups are not supported)"
        )
    execution = executions.get(session, principal, execution_id, lock=True)
    rows = [_event_row(item, kind) for item, kind in items]
    return events.append(session, execution, rows)


def _event_row(item: dict[str, Any], kind: str) -> dict[str, Any]:
    """One stored row from an item as cloudify-common sends it (REST contract §11.5)."""
    raw_context = item.get("context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    message = item.get("message")
    text = message.get("text") if isinstance(message, dict) else message
    causes = context.get("task_error_causes")
    row: dict[str, Any] = {
        "type": kind,
        "message": "" if text is None else str(text),
        "operation": _text(context.get("operation")),
        # Cloudify stores the context's `node_id` (an instance id) as node_instance_id.
        "node_instance_id": _text(context.get("node_id")),
        "node_name": _text(context.get("node_name")),
        "source_id": _text(context.get("source_id")),
        "target_id": _text(context.get("target_id")),
        "error_causes": causes if isinstance(causes, list) else None,
        "reported_timestamp": _timestamp(item.get("timestamp")),
    }
    if kind == "cloudify_event":
        row["event_type"] = _text(item.get("event_type"), 64) or "plugin_event"
    else:
        row["event_type"] = None
        row["level"] = (_text(item.get("level"), 16) or "info").lower()
        row["logger"] = _text(item.get("logger"))
    return row


def _text(value: Any, limit: int = 255) -> str | None:
    """A short column's value; longer text is cut to the column's size."""
    return None if value is None else str(value)[:limit]


def _timestamp(value: Any) -> datetime | None:
    """The item's own time (`2024-03-25T15:51:30.440Z`); unreadable ones become the
    server's receive time."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def get_operation(session: Session, principal: Principal, operation_id: str) -> Operation:
    """An operation of an execution the caller can see (an execution token: its own)."""
    stmt = visible(
        select(Operation)
        .join(Execution, Execution.id == Operation.execution_id)
        .where(Operation.id == operation_id),
        Execution,
        principal,
    )
    operation = session.scalar(stmt)
    if operation is None:
        raise NotFound.of("Operation", operation_id)
    return operation


def listed_operations(principal: Principal) -> Select[Any]:
    """Operations of the executions the caller can see (`GET /operations`)."""
    stmt: Select[Any] = visible(
        select(Operation).join(Execution, Execution.id == Operation.execution_id),
        Execution,
        principal,
    )
    return stmt


def dependencies_of(session: Session, operations: Sequence[Operation]) -> dict[str, list[str]]:
    """Operation id -> the ids of the operations it waits for, for `operations` (the graph
    stores the other direction: each operation's dependents)."""
    execution_ids = {operation.execution_id for operation in operations}
    wanted = {operation.id for operation in operations}
    found: dict[str, list[str]] = {operation_id: [] for operation_id in wanted}
    if not execution_ids:
        return found
    rows = session.execute(
        select(Operation.id, Operation.dependents).where(Operation.execution_id.in_(execution_ids))
    )
    for operation_id, dependents in rows:
        for dependent in dependents or ():
            if dependent in wanted:
                found[dependent].append(operation_id)
    return found


def acknowledge_update(
    session: Session, principal: Principal, operation_id: str, body: OperationUpdate
) -> Operation:
    """`ctx.update_operation(state)`: checked, then acknowledged without applying it. The
    state an operation ends in is what its worker reports, through manager.orchestration."""
    if body.state not in OPERATION_STATES:
        raise BadParameters(
            f"Unknown operation state `{body.state}`; use one of {', '.join(OPERATION_STATES)}"
        )
    return get_operation(session, principal, operation_id)


def evaluate(
    session: Session,
    principal: Principal,
    secret_key: str,
    deployment_id: str,
    context: dict[str, Any] | None,
    payload: Any,
) -> Any:
    """Runtime functions of `payload` for a node instance (`{self}`) or a relationship
    (`{source, target, ...}`) of the deployment."""
    from manager.dsl import DslError, evaluate_functions

    deployment = deployments.get(session, principal, deployment_id)
    context = context or {}
    if context.get("source") or context.get("target"):
        scope = {"source": context.get("source"), "target": context.get("target")}
    else:
        scope = {"self": context.get("self")} if context.get("self") else {}
    storage = DeploymentStorage(session, deployment, secret_key, principal)
    try:
        return evaluate_functions(payload, scope, storage)
    except DslError as exc:
        raise evaluation_error(exc) from None
