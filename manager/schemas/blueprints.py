"""The blueprint resource, and the upload parameters `cfy` sends."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, Field, ValidationError, field_validator

from manager.db import Blueprint
from manager.errors import BadParameters
from manager.schemas.common import OwnedRead, check_visibility, iso, ownership
from manager.schemas.executions import execution_read

FIELDS = (
    "id",
    "visibility",
    "created_at",
    "updated_at",
    "created_by",
    "tenant_name",
    "private_resource",
    "resource_availability",
    "main_file_name",
    "plan",
    "requirements",
    "description",
    "is_hidden",
    "state",
    "error",
    "error_traceback",
    "labels",
    "upload_execution",
)


class BlueprintUploadParams(BaseModel):
    """The `params` form field (or the legacy query string) of an upload."""

    visibility: str = "tenant"
    application_file_name: str = "blueprint.yaml"
    labels: list[dict[str, Any]] = Field(default_factory=list)
    async_upload: bool = True
    skip_execution: bool = False
    blueprint_archive_url: str | None = None

    _check_visibility = field_validator("visibility")(check_visibility)

    @field_validator("application_file_name")
    @classmethod
    def _unquote(cls, value: str) -> str:
        return unquote(value)  # the client URL-quotes it

    @classmethod
    def parse(cls, raw: str | dict[str, Any] | None) -> BlueprintUploadParams:
        try:
            data = json.loads(raw) if isinstance(raw, str) else (raw or {})
            return cls.model_validate(data)
        except (ValueError, ValidationError) as exc:
            raise BadParameters(f"Invalid upload params: {exc}") from None


class BlueprintRead(OwnedRead):
    """A blueprint as `cfy blueprints` reads it; every field is optional for `_include`."""

    id: str | None = None
    updated_at: str | None = None
    main_file_name: str | None = None
    plan: dict[str, Any] | None = None
    requirements: Any = None
    description: str | None = None
    is_hidden: bool | None = None
    state: str | None = None
    error: str | None = None
    error_traceback: str | None = None
    labels: list[Any] | None = None
    # The upload's execution as executions read it, or `{"id": ...}`.
    upload_execution: dict[str, Any] | None = None


def blueprint_read(blueprint: Blueprint) -> dict[str, Any]:
    upload_execution = blueprint.upload_execution
    plan = blueprint.plan
    return {
        "id": blueprint.id,
        **ownership(blueprint),
        "updated_at": iso(blueprint.updated_at),
        "main_file_name": blueprint.main_file_name,
        "plan": plan,
        "requirements": (plan or {}).get("requirements"),
        "description": blueprint.description,
        "is_hidden": blueprint.is_hidden,
        "state": blueprint.state,
        "error": blueprint.error,
        "error_traceback": blueprint.error_traceback,
        "labels": blueprint.labels,
        # `cfy` needs an object with an id here, never null.
        "upload_execution": execution_read(upload_execution)
        if upload_execution
        else {"id": blueprint.upload_execution_id},
    }
