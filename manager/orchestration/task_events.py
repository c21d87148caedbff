"""The events an operation's attempts record (sending, started, succeeded, the worker's logs),
in Cloudify's shapes, and the task names and retry numbers they show."""

from __future__ import annotations

from typing import Any


def task_name(operation: Any) -> str:
    return str(operation.parameters.get("task") or operation.name)


def retry_number(operation: Any) -> int:
    return max(operation.attempt - 1 - int(operation.parameters.get("retry_base", 0)), 0)


def retry_suffix(operation: Any) -> str:
    number = retry_number(operation)
    return f" [retry {number}/{operation.max_retries}]" if number else ""


def node_of(instance_id: str | None) -> str | None:
    """`web_x3k9az` -> `web`: instance ids are the node id and a 6-character suffix."""
    if not instance_id or "_" not in instance_id:
        return None
    return instance_id.rsplit("_", 1)[0]


def task_event(operation: Any, event_type: str, message: str) -> dict[str, Any]:
    params = operation.parameters
    relationship = params.get("relationship")
    event: dict[str, Any] = {
        "type": "cloudify_event",
        "event_type": event_type,
        "message": message,
        "operation": operation.name,
        "node_instance_id": operation.node_instance_id,
        "node_name": params.get("node_id")
        if not relationship
        else node_of(operation.node_instance_id),
    }
    if relationship:
        event["source_id"] = relationship["source_id"]
        event["target_id"] = relationship["target_id"]
    return event


def sending_event(operation: Any) -> dict[str, Any]:
    return task_event(
        operation, "sending_task", f"Sending task '{operation.parameters.get('task')}'"
    )


def started_event(operation: Any) -> dict[str, Any]:
    text = f"Task started '{task_name(operation)}'{retry_suffix(operation)}"
    return task_event(operation, "task_started", text)


def succeeded_event(operation: Any) -> dict[str, Any]:
    text = f"Task succeeded '{task_name(operation)}'{retry_suffix(operation)}"
    return task_event(operation, "task_succeeded", text)


def worker_event(operation: Any, item: dict[str, Any]) -> dict[str, Any]:
    """A log or event the worker sent while running the operation."""
    event = task_event(operation, item.get("event_type") or "", str(item.get("message") or ""))
    if item.get("event_type"):
        event["type"] = "cloudify_event"
    else:
        event["type"] = "cloudify_log"
        event["event_type"] = None
        event["level"] = str(item.get("level") or "info").lower()
        event["logger"] = item.get("logger")
    return event
