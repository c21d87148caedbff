"""The execution resource as `cfy` reads it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from manager.db import Execution
from manager.orchestration.executions import display
from manager.schemas.common import OwnedRead, iso, ownership

FIELDS = (
    "id",
    "workflow_id",
    "deployment_id",
    "deployment_display_name",
    "blueprint_id",
    "status",
    "status_display",
    "error",
    "parameters",
    "is_system_workflow",
    "is_dry_run",
    "allow_custom_parameters",
    "resume",
    "created_at",
    "started_at",
    "ended_at",
    "scheduled_for",
    "created_by",
    "tenant_name",
    "visibility",
    "private_resource",
    "resource_availability",
    "total_operations",
    "finished_operations",
    "failed_operations",
)


class ExecutionRead(OwnedRead):
    """An execution as `cfy executions` reads it; every field is optional for `_include`."""

    id: str | None = None
    workflow_id: str | None = None
    deployment_id: str | None = None
    deployment_display_name: str | None = None
    blueprint_id: str | None = None
    status: str | None = None
    status_display: str | None = None
    error: str | None = None
    parameters: dict[str, Any] | None = None
    is_system_workflow: bool | None = None
    is_dry_run: bool | None = None
    allow_custom_parameters: bool | None = None
    resume: bool | None = None
    started_at: str | None = None
    ended_at: str | None = None
    scheduled_for: str | None = None
    total_operations: int | None = None
    finished_operations: int | None = None
    failed_operations: int | None = None


class DeletedCount(BaseModel):
    count: int


def execution_read(execution: Execution) -> dict[str, Any]:
    deployment = execution.deployment
    return {
        "id": execution.id,
        "workflow_id": execution.workflow_id,
        "deployment_id": deployment.id if deployment else None,
        "deployment_display_name": deployment.display_name if deployment else None,
        "blueprint_id": execution.blueprint_id,
        "status": execution.status,
        "status_display": display(execution.status),
        "error": execution.error,
        "parameters": execution.parameters,
        "is_system_workflow": execution.is_system_workflow,
        "is_dry_run": execution.is_dry_run,
        "allow_custom_parameters": execution.allow_custom_parameters,
        "resume": execution.resume,
        "started_at": iso(execution.started_at),
        "ended_at": iso(execution.ended_at),
        "scheduled_for": iso(execution.scheduled_for),
        "total_operations": execution.total_operations,
        "finished_operations": execution.finished_operations,
        "failed_operations": execution.failed_operations,
        **ownership(execution),
    }


def _flag(value: Any) -> bool:
    """`cfy` sends booleans as the strings "true"/"false"."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


class ExecutionStart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deployment_id: str
    workflow_id: str
    parameters: dict[str, Any] | None = None
    allow_custom_parameters: bool = False
    force: bool = False
    dry_run: bool = False
    queue: bool = False

    @field_validator("allow_custom_parameters", "force", "dry_run", "queue", mode="before")
    @classmethod
    def _string_booleans(cls, value: Any) -> bool:
        return _flag(value)


class ExecutionAction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: str


class ExecutionStatusUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str
    error: str = ""


class ExecutionsDelete(BaseModel):
    model_config = ConfigDict(extra="ignore")

    to_datetime: datetime | None = None
    keep_last: int | None = Field(default=None, ge=0)
