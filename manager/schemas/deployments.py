"""The deployment resource, its creation body, and nodes / node instances as `cfy` reads them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from manager.db import Deployment, Node, NodeInstance
from manager.schemas.common import OwnedRead, check_visibility, iso, ownership

FIELDS = (
    "id",
    "display_name",
    "blueprint_id",
    "created_at",
    "updated_at",
    "created_by",
    "tenant_name",
    "visibility",
    "private_resource",
    "resource_availability",
    "description",
    "inputs",
    "outputs",
    "capabilities",
    "groups",
    "policy_triggers",
    "policy_types",
    "scaling_groups",
    "workflows",
    "resource_tags",
    "runtime_only_evaluation",
    "site_name",
    "labels",
    "deployment_groups",
    "installation_status",
    "deployment_status",
    "latest_execution",
    "latest_execution_id",
    "create_execution",
    "latest_execution_status",
    "latest_execution_workflow_id",
    "latest_execution_total_operations",
    "latest_execution_finished_operations",
    "sub_services_status",
    "sub_environments_status",
    "sub_services_count",
    "sub_environments_count",
    "environment_type",
    "has_sub_deployments",
    "unavailable_instances",
    "drifted_instances",
)


class DeploymentCreate(BaseModel):
    blueprint_id: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    visibility: str = "tenant"
    display_name: str | None = None
    # `[{"env": "dev"}]` as `cfy --labels` sends them (checked by manager.services.labels).
    labels: list[dict[str, Any]] = Field(default_factory=list)
    skip_plugins_validation: bool = False
    runtime_only_evaluation: bool = False
    site_name: str | None = None
    description: str | None = None

    _check_visibility = field_validator("visibility")(check_visibility)


def _latest_status(status: str | None) -> str | None:
    if status is None:
        return None
    if status == "terminated":
        return "completed"
    return status if status in ("failed", "cancelled") else "in_progress"


class WorkflowRead(BaseModel):
    """One workflow of a deployment (an item of `POST /searches/workflows`)."""

    name: str
    plugin: str | None = None
    operation: str | None = None
    parameters: dict[str, Any] | None = None
    is_cascading: bool | None = None
    is_available: bool | None = None
    availability_rules: Any = None


def workflow_items(deployment: Deployment) -> list[dict[str, Any]]:
    """A deployment's `workflows` field (also the items of `POST /searches/workflows`)."""
    return [
        {
            "name": name,
            "plugin": wf.get("plugin"),
            "operation": wf.get("operation"),
            "parameters": wf.get("parameters", {}),
            "is_cascading": wf.get("is_cascading", False),
            "is_available": True,
            "availability_rules": wf.get("availability_rules"),
        }
        for name, wf in (deployment.workflows or {}).items()
    ]


class DeploymentRead(OwnedRead):
    """A deployment as `cfy deployments` reads it; every field is optional for `_include`."""

    id: str | None = None
    display_name: str | None = None
    blueprint_id: str | None = None
    updated_at: str | None = None
    description: str | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    capabilities: dict[str, Any] | None = None
    groups: dict[str, Any] | None = None
    policy_triggers: dict[str, Any] | None = None
    policy_types: dict[str, Any] | None = None
    scaling_groups: dict[str, Any] | None = None
    workflows: list[dict[str, Any]] | None = None
    resource_tags: dict[str, Any] | None = None
    runtime_only_evaluation: bool | None = None
    site_name: str | None = None
    labels: list[dict[str, Any]] | None = None
    deployment_groups: list[Any] | None = None
    installation_status: str | None = None
    deployment_status: str | None = None
    latest_execution: str | None = None
    latest_execution_id: str | None = None
    create_execution: str | None = None
    latest_execution_status: str | None = None
    latest_execution_workflow_id: str | None = None
    latest_execution_total_operations: int | None = None
    latest_execution_finished_operations: int | None = None
    sub_services_status: str | None = None
    sub_environments_status: str | None = None
    sub_services_count: int | None = None
    sub_environments_count: int | None = None
    environment_type: str | None = None
    has_sub_deployments: bool | None = None
    unavailable_instances: int | None = None
    drifted_instances: int | None = None


class DeploymentOutputsRead(BaseModel):
    deployment_id: str
    outputs: dict[str, Any]


class DeploymentCapabilitiesRead(BaseModel):
    deployment_id: str
    capabilities: dict[str, Any]


def deployment_read(deployment: Deployment) -> dict[str, Any]:
    latest = deployment.latest_execution
    workflows = workflow_items(deployment)
    return {
        "id": deployment.id,
        "display_name": deployment.display_name,
        "blueprint_id": deployment.blueprint.id,
        **ownership(deployment),
        "updated_at": iso(deployment.updated_at),
        "description": deployment.description,
        "inputs": deployment.inputs,
        "outputs": deployment.outputs,
        "capabilities": deployment.capabilities,
        "groups": deployment.groups,
        "policy_triggers": deployment.policy_triggers,
        "policy_types": deployment.policy_types,
        "scaling_groups": deployment.scaling_groups,
        "workflows": workflows,
        "resource_tags": deployment.resource_tags,
        "runtime_only_evaluation": deployment.runtime_only_evaluation,
        "site_name": deployment.site_name,
        "labels": [
            {
                "created_at": iso(deployment.created_at),
                "created_by": ownership(deployment)["created_by"],
                **label,
            }
            for label in deployment.labels
        ],
        "deployment_groups": sorted(group.id for group in deployment.deployment_groups),
        "installation_status": deployment.installation_status,
        "deployment_status": deployment.deployment_status,
        "latest_execution": deployment.latest_execution_id,
        "latest_execution_id": deployment.latest_execution_id,
        "create_execution": deployment.create_execution_id,
        "latest_execution_status": _latest_status(latest.status if latest else None),
        "latest_execution_workflow_id": latest.workflow_id if latest else None,
        "latest_execution_total_operations": latest.total_operations if latest else None,
        "latest_execution_finished_operations": latest.finished_operations if latest else None,
        "sub_services_status": None,
        "sub_environments_status": None,
        "sub_services_count": 0,
        "sub_environments_count": 0,
        "environment_type": "",
        "has_sub_deployments": False,
        "unavailable_instances": 0,
        "drifted_instances": 0,
    }


NODE_FIELDS = (
    "id",
    "deployment_id",
    "deployment_display_name",
    "blueprint_id",
    "type",
    "type_hierarchy",
    "properties",
    "operations",
    "relationships",
    "plugins",
    "plugins_to_install",
    "host_id",
    "number_of_instances",
    "planned_number_of_instances",
    "deploy_number_of_instances",
    "min_number_of_instances",
    "max_number_of_instances",
    "actual_number_of_instances",
    "actual_planned_number_of_instances",
    "unavailable_instances",
    "drifted_instances",
    "visibility",
    "tenant_name",
    "created_by",
    "capabilities",
)


class NodeRead(BaseModel):
    """A node as `cfy nodes` and `ctx.node` read it; every field is optional for `_include`.
    Properties are Any: `_evaluate_functions` may turn them into any JSON value."""

    id: str | None = None
    deployment_id: str | None = None
    deployment_display_name: str | None = None
    blueprint_id: str | None = None
    type: str | None = None
    type_hierarchy: list[Any] | None = None
    properties: Any = None
    operations: dict[str, Any] | None = None
    relationships: list[Any] | None = None
    plugins: list[Any] | None = None
    plugins_to_install: list[Any] | None = None
    host_id: str | None = None
    capabilities: dict[str, Any] | None = None
    number_of_instances: int | None = None
    planned_number_of_instances: int | None = None
    deploy_number_of_instances: int | None = None
    min_number_of_instances: int | None = None
    max_number_of_instances: int | None = None
    actual_number_of_instances: int | None = None
    actual_planned_number_of_instances: int | None = None
    unavailable_instances: int | None = None
    drifted_instances: int | None = None
    visibility: str | None = None
    tenant_name: str | None = None
    created_by: str | None = None


def node_read(node: Node, deployment: Deployment, actual: int | None = None) -> dict[str, Any]:
    return {
        "id": node.id,
        "deployment_id": deployment.id,
        "deployment_display_name": deployment.display_name,
        "blueprint_id": deployment.blueprint.id,
        "type": node.type,
        "type_hierarchy": node.type_hierarchy,
        "properties": node.properties,
        "operations": node.operations,
        "relationships": node.relationships,
        "plugins": node.plugins,
        "plugins_to_install": node.plugins_to_install,
        "host_id": node.host_id,
        "capabilities": node.capabilities,
        "number_of_instances": node.number_of_instances,
        "planned_number_of_instances": node.planned_number_of_instances,
        "deploy_number_of_instances": node.deploy_number_of_instances,
        "min_number_of_instances": node.min_number_of_instances,
        "max_number_of_instances": node.max_number_of_instances,
        "actual_number_of_instances": actual if actual is not None else node.number_of_instances,
        "actual_planned_number_of_instances": node.planned_number_of_instances,
        "unavailable_instances": 0,
        "drifted_instances": 0,
        "visibility": deployment.visibility,
        "tenant_name": deployment.tenant.name,
        "created_by": ownership(deployment)["created_by"],
    }


INSTANCE_FIELDS = (
    "id",
    "node_id",
    "deployment_id",
    "host_id",
    "state",
    "runtime_properties",
    "system_properties",
    "relationships",
    "scaling_groups",
    "index",
    "version",
    "visibility",
    "tenant_name",
    "created_by",
    "is_status_check_ok",
    "has_configuration_drift",
)


class NodeInstanceRead(BaseModel):
    """A node instance; every field is optional for `_include`."""

    id: str | None = None
    node_id: str | None = None
    deployment_id: str | None = None
    host_id: str | None = None
    state: str | None = None
    runtime_properties: Any = None
    system_properties: dict[str, Any] | None = None
    relationships: list[Any] | None = None
    scaling_groups: list[Any] | None = None
    index: int | None = None
    version: int | None = None
    visibility: str | None = None
    tenant_name: str | None = None
    created_by: str | None = None
    is_status_check_ok: bool | None = None
    has_configuration_drift: bool | None = None


def instance_read(instance: NodeInstance, deployment: Deployment) -> dict[str, Any]:
    status = (instance.system_properties or {}).get("status") or {}
    return {
        "id": instance.id,
        "node_id": instance.node_id,
        "deployment_id": deployment.id,
        "host_id": instance.host_id,
        "state": instance.state,
        "runtime_properties": instance.runtime_properties,
        "system_properties": instance.system_properties,
        "relationships": instance.relationships,
        "scaling_groups": instance.scaling_groups,
        "index": instance.index,
        "version": instance.version,
        "visibility": deployment.visibility,
        "tenant_name": deployment.tenant.name,
        "created_by": ownership(deployment)["created_by"],
        "is_status_check_ok": bool(status.get("ok", True)),
        "has_configuration_drift": bool(
            (instance.system_properties or {}).get("configuration_drift", {}).get("result")
        ),
    }
