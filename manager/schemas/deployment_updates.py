"""The deployment-update resource as `cfy deployments update/history/get-update` read it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from manager.db import DeploymentUpdate
from manager.schemas.common import OwnedRead, ownership

FIELDS = (
    "id",
    "deployment_id",
    "state",
    "execution_id",
    "old_blueprint_id",
    "new_blueprint_id",
    "old_inputs",
    "new_inputs",
    "steps",
    "modified_entity_ids",
    "runtime_only_evaluation",
    "recursive_dependencies",
    "schedules_to_create",
    "schedules_to_delete",
    "labels_to_create",
    "created_at",
    "created_by",
    "tenant_name",
    "visibility",
    "private_resource",
    "resource_availability",
)


class DeploymentUpdateStart(BaseModel):
    """The body `cfy deployments update` posts to `/deployment-updates/<id>/update/initiate`.

    Fields the client sends that Quarterdeck does not act on (drift checks, heal,
    force_reinstall, plugin updates) are accepted and ignored: changed instances are always
    reinstalled, which is what `force_reinstall` asks for. A custom `workflow_id` is refused
    by the service."""

    model_config = ConfigDict(extra="ignore")

    blueprint_id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    skip_install: bool = False
    skip_uninstall: bool = False
    skip_reinstall: bool = False
    install_first: bool = False
    ignore_failure: bool = False
    preview: bool = False
    runtime_only_evaluation: bool | None = None
    reinstall_list: list[str] = Field(default_factory=list)
    workflow_id: str | None = None

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("reinstall_list", mode="before")
    @classmethod
    def _reinstall_list(cls, value: Any) -> Any:
        return [] if value is None else value


class DeploymentUpdateRead(OwnedRead):
    """A deployment update; every field is optional for `_include`."""

    id: str | None = None
    deployment_id: str | None = None
    state: str | None = None
    execution_id: str | None = None
    old_blueprint_id: str | None = None
    new_blueprint_id: str | None = None
    old_inputs: dict[str, Any] | None = None
    new_inputs: dict[str, Any] | None = None
    steps: list[dict[str, Any]] | None = None
    modified_entity_ids: dict[str, Any] | None = None
    runtime_only_evaluation: bool | None = None
    recursive_dependencies: list[dict[str, Any]] | None = None
    schedules_to_create: list[dict[str, Any]] | None = None
    schedules_to_delete: list[str] | None = None
    labels_to_create: list[dict[str, Any]] | None = None


def deployment_update_read(record: DeploymentUpdate) -> dict[str, Any]:
    return {
        "id": record.id,
        "deployment_id": record.deployment.id,
        "state": record.state,
        "execution_id": record.execution_id,
        "old_blueprint_id": record.old_blueprint_id,
        "new_blueprint_id": record.new_blueprint_id,
        "old_inputs": record.old_inputs,
        "new_inputs": record.new_inputs,
        "steps": record.steps,
        "modified_entity_ids": record.modified_entity_ids,
        "runtime_only_evaluation": record.runtime_only_evaluation,
        # Inter-deployment dependencies, schedules and labels are not changed by updates.
        "recursive_dependencies": [],
        "schedules_to_create": [],
        "schedules_to_delete": [],
        "labels_to_create": [],
        **ownership(record),
    }
