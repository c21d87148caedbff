"""The flat event/log item `cfy` prints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from manager.db import Event
from manager.schemas.common import iso

FIELDS = (
    "_storage_id",
    "timestamp",
    "reported_timestamp",
    "@timestamp",
    "blueprint_id",
    "deployment_id",
    "deployment_display_name",
    "execution_id",
    "execution_group_id",
    "workflow_id",
    "message",
    "error_causes",
    "operation",
    "source_id",
    "target_id",
    "manager_name",
    "agent_name",
    "node_instance_id",
    "node_name",
    "type",
    "event_type",
    "level",
    "logger",
)


class EventRead(BaseModel):
    """An event or a log line as `cfy events list` reads it; every field is optional for
    `_include`, and a log has `level` and `logger` where an event has `event_type`."""

    model_config = ConfigDict(populate_by_name=True)

    storage_id: int | None = Field(default=None, alias="_storage_id")
    timestamp: str | None = None
    reported_timestamp: str | None = None
    at_timestamp: str | None = Field(default=None, alias="@timestamp")
    blueprint_id: str | None = None
    deployment_id: str | None = None
    deployment_display_name: str | None = None
    execution_id: str | None = None
    execution_group_id: str | None = None
    workflow_id: str | None = None
    message: str | None = None
    error_causes: Any = None
    operation: str | None = None
    source_id: str | None = None
    target_id: str | None = None
    manager_name: str | None = None
    agent_name: str | None = None
    node_instance_id: str | None = None
    node_name: str | None = None
    type: str | None = None
    event_type: str | None = None
    level: str | None = None
    logger: str | None = None


def event_read(event: Event) -> dict[str, Any]:
    item: dict[str, Any] = {
        "_storage_id": event.pk,
        "timestamp": iso(event.timestamp),
        "reported_timestamp": iso(event.reported_timestamp),
        "blueprint_id": event.blueprint_id,
        "deployment_id": event.deployment_id,
        "deployment_display_name": event.deployment_id,
        "execution_id": event.execution_id,
        "execution_group_id": None,
        "workflow_id": event.workflow_id,
        "message": event.message,
        "error_causes": event.error_causes,
        "operation": event.operation,
        "source_id": event.source_id,
        "target_id": event.target_id,
        "manager_name": "quarterdeck",
        "agent_name": None,
        "node_instance_id": event.node_instance_id,
        "node_name": event.node_name,
        "type": event.type,
    }
    if event.type == "cloudify_log":
        item["level"] = event.level
        item["logger"] = event.logger
    else:
        item["event_type"] = event.event_type
    return item
