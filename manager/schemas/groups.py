"""Deployment groups, execution groups and label listings: request bodies and responses, in
the shapes of cloudify-rest-client 7.0.5 (`deployment_groups`, `execution_groups`, `labels`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from manager.db import DeploymentGroup, ExecutionGroup
from manager.errors import BadParameters
from manager.schemas.common import ListMetadata, OwnedRead, ownership

DEPLOYMENT_GROUP_FIELDS = (
    "id",
    "description",
    "default_blueprint_id",
    "default_inputs",
    "deployment_ids",
    "labels",
    "visibility",
    "tenant_name",
    "created_by",
    "private_resource",
    "resource_availability",
    "created_at",
)
EXECUTION_GROUP_FIELDS = (
    "id",
    "workflow_id",
    "deployment_group_id",
    "concurrency",
    "execution_ids",
    "status",
    "visibility",
    "tenant_name",
    "created_by",
    "private_resource",
    "resource_availability",
    "created_at",
)


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


class DeploymentsSelection(BaseModel):
    """Deployments named for adding to a group or removing from it; any mix of these."""

    model_config = ConfigDict(extra="ignore")

    deployment_ids: list[str] | None = None
    filter_id: str | None = None
    filter_rules: list[Any] | None = None
    deployments_from_group: str | None = None
    # Only when adding: new deployments of the group's default blueprint, each
    # `{"id", "display_name", "inputs", "labels", "site_name"}` (all optional).
    new_deployments: list[dict[str, Any]] | None = None


class DeploymentGroupPut(DeploymentsSelection):
    """`PUT /deployment-groups/{id}`: create the group, or change the attributes given.
    Naming deployments (ids, a filter or another group) sets the members, not adds."""

    description: str | None = None
    visibility: str | None = None
    labels: list[Any] | None = None
    blueprint_id: str | None = None
    default_inputs: dict[str, Any] | None = None


class DeploymentGroupPatch(BaseModel):
    """`PATCH /deployment-groups/{id}`: add deployments, remove deployments, or both."""

    model_config = ConfigDict(extra="ignore")

    add: DeploymentsSelection | None = None
    remove: DeploymentsSelection | None = None


class DeploymentGroupRead(OwnedRead):
    id: str | None = None
    description: str | None = None
    default_blueprint_id: str | None = None
    default_inputs: dict[str, Any] | None = None
    deployment_ids: list[str] | None = None
    labels: list[dict[str, Any]] | None = None


def deployment_group_read(group: DeploymentGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "description": group.description,
        "default_blueprint_id": group.default_blueprint.id if group.default_blueprint else None,
        "default_inputs": group.default_inputs,
        "deployment_ids": sorted(deployment.id for deployment in group.deployments),
        "labels": group.labels,
        **ownership(group),
    }


class ExecutionGroupStart(BaseModel):
    """`POST /execution-groups`: run `workflow_id` on every deployment of the group."""

    model_config = ConfigDict(extra="ignore")

    deployment_group_id: str
    workflow_id: str
    default_parameters: dict[str, Any] | None = None
    # Deployment id -> parameters overriding the defaults for that deployment.
    parameters: dict[str, dict[str, Any]] | None = None
    force: bool = False
    concurrency: int = Field(default=5, ge=0)

    @field_validator("force", mode="before")
    @classmethod
    def _string_booleans(cls, value: Any) -> bool:
        return _flag(value)


class ExecutionGroupAction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: str


class ExecutionGroupUpdate(BaseModel):
    """`PATCH /execution-groups/{id}`: target groups for the deployments whose execution
    terminated (success) or failed, and the concurrency."""

    model_config = ConfigDict(extra="ignore")

    success_group_id: str | None = None
    failure_group_id: str | None = None
    concurrency: int | None = Field(default=None, ge=0)


class ExecutionGroupRead(OwnedRead):
    id: str | None = None
    workflow_id: str | None = None
    deployment_group_id: str | None = None
    concurrency: int | None = None
    execution_ids: list[str] | None = None
    status: str | None = None


def execution_group_read(group: ExecutionGroup, status: str | None) -> dict[str, Any]:
    return {
        "id": group.id,
        "workflow_id": group.workflow_id,
        "deployment_group_id": group.deployment_group_id,
        "concurrency": group.concurrency,
        "execution_ids": [execution.id for execution in group.executions],
        "status": status,
        **ownership(group),
    }


class LabelsUpdate(BaseModel):
    """`PATCH /deployments/{id}` and `PATCH /blueprints/{id}` as `cfy ... labels add/delete`
    send them: the resource's whole new list of labels. Other attributes are refused."""

    model_config = ConfigDict(extra="allow")

    labels: list[Any]

    def refuse_others(self, resource: str) -> None:
        if others := sorted(self.model_extra or {}):
            raise BadParameters(
                f"Only `labels` of a {resource} can be changed here; not "
                f"{', '.join(f'`{name}`' for name in others)}"
            )


class LabelListRead(BaseModel):
    """`GET /labels/<resource>[/<key>]`: label keys, or one key's values, as strings."""

    items: list[str]
    metadata: ListMetadata
