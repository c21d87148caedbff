"""The flat event/log item `cfy` prints."""

from __future__ import annotations

from typing import Any

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
