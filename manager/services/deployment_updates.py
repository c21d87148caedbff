"""Deployment updates: compare a deployment with a new blueprint (or new inputs), store what
changed, and start the `update` workflow that installs, uninstalls and reinstalls to match.

The rows are changed before the workflow runs, so that its graph can be built from them:
the deployment takes the new blueprint, inputs, outputs and workflows at once, and its nodes
and instances are changed as manager.services.update_rows describes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from manager.db import Blueprint, Deployment, DeploymentUpdate, Execution, Node, NodeInstance
from manager.db.base import utcnow
from manager.db.deployments import of_deployment
from manager.errors import BadParameters, CodedError, NotFound
from manager.orchestration import executions as execution_states
from manager.orchestration.outbox import Outbox
from manager.orchestration.updates import KEY
from manager.schemas.deployment_updates import DeploymentUpdateStart
from manager.services import blueprints, deployments, executions, update_rows
from manager.services.identity import Principal
from manager.services.tenancy import check_own_tenant, visible
from manager.settings import Settings
from manager.workflows.builtin import UPDATE

PREVIEW = "preview"


def listed() -> Select[Any]:
    return select(DeploymentUpdate)


def deployment_id_column() -> Any:
    return (
        select(Deployment.id)
        .where(Deployment.pk == DeploymentUpdate.deployment_pk)
        .scalar_subquery()
    )


def get(session: Session, principal: Principal, update_id: str) -> DeploymentUpdate:
    stmt = visible(
        select(DeploymentUpdate).where(DeploymentUpdate.id == update_id),
        DeploymentUpdate,
        principal,
    )
    record = session.scalars(stmt).first()
    if record is None:
        raise NotFound.of("DeploymentUpdate", update_id)
    return record


def initiate(
    session: Session,
    settings: Settings,
    principal: Principal,
    deployment_id: str,
    body: DeploymentUpdateStart,
    outbox: Outbox,
) -> DeploymentUpdate | dict[str, Any]:
    """Start updating `deployment_id`; a preview only returns the steps (nothing stored)."""
    from manager.dsl.update_steps import modified_entity_ids, nodes_to_reinstall

    deployment = deployments.get(session, principal, deployment_id)
    check_own_tenant(principal, deployment, "update", admin_anywhere=False)
    if body.workflow_id:
        raise BadParameters(
            f"Parameter `workflow_id` ({body.workflow_id!r}) is not supported: Quarterdeck runs "
            "its own `update` workflow for every deployment update"
        )
    blueprint = (
        blueprints.get(session, principal, body.blueprint_id)
        if body.blueprint_id
        else deployment.blueprint
    )
    if blueprint.state != "uploaded" or blueprint.plan is None:
        raise CodedError(
            f"Blueprint `{blueprint.id}` is {blueprint.state}, not `uploaded`: a deployment can "
            "only be updated to an uploaded blueprint",
            "bad_parameters_error",
        )
    _check_idle(session, deployment)
    _check_reinstall_list(session, deployment, body.reinstall_list)
    plan = blueprint.plan
    declared = set(plan.get("inputs") or {})
    old_inputs = dict(deployment.inputs or {})
    new_inputs = {k: v for k, v in old_inputs.items() if k in declared}
    new_inputs.update(body.inputs)
    runtime_only = (
        deployment.runtime_only_evaluation
        if body.runtime_only_evaluation is None
        else body.runtime_only_evaluation
    )
    expanded, new_nodes, steps = _compare(session, deployment, plan, new_inputs, runtime_only)
    deployments.check_secrets(session, principal, expanded)

    record_fields = {
        "id": f"{deployment.id}-{uuid.uuid4()}",
        "old_blueprint_id": deployment.blueprint.id,
        "new_blueprint_id": blueprint.id,
        "old_inputs": old_inputs,
        "new_inputs": expanded["inputs"],
        "steps": steps,
        "modified_entity_ids": modified_entity_ids(steps),
        "runtime_only_evaluation": runtime_only,
    }
    if body.preview:
        return _preview(principal, deployment, record_fields)

    changes = update_rows.apply_plan(session, deployment, expanded, new_nodes)
    changes["reinstall_nodes"] = [
        n for n in nodes_to_reinstall(steps) if n not in changes["added_nodes"]
    ]
    changes["reinstall_instances"] = list(body.reinstall_list)
    _set_deployment(deployment, blueprint, plan, expanded, runtime_only)
    flags = {
        "skip_install": body.skip_install,
        "skip_uninstall": body.skip_uninstall,
        "skip_reinstall": body.skip_reinstall,
        "install_first": body.install_first,
        "ignore_failure": body.ignore_failure,
    }
    execution = executions.new_execution(
        session,
        principal,
        "update",
        deployment=deployment,
        blueprint_id=blueprint.id,
        parameters={
            "update_id": record_fields["id"],
            "blueprint_id": blueprint.id,
            "inputs": body.inputs,
            **flags,
            KEY: {**changes, **flags},
        },
        allow_custom_parameters=True,
    )
    execution.token_hash = executions.token_hash(
        executions.execution_token(settings.secret_key, execution.id)
    )
    deployment.latest_execution_id = execution.id
    record = DeploymentUpdate(
        tenant_pk=principal.tenant_pk,
        created_by_pk=principal.user_pk,
        visibility=deployment.visibility,
        deployment=deployment,
        execution_id=execution.id,
        state="updating",
        **record_fields,
    )
    session.add(record)
    session.flush()
    executions.launch(session, settings, execution, deployment, {"operation": UPDATE}, outbox)
    return record


def _compare(
    session: Session,
    deployment: Deployment,
    plan: dict[str, Any],
    inputs: dict[str, Any],
    runtime_only: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The new deployment plan, its nodes, and the steps from the stored nodes to them."""
    from manager.dsl import DslError, create_deployment_plan
    from manager.dsl.update_steps import extract_steps

    try:
        expanded = create_deployment_plan(plan, inputs, runtime_only_evaluation=runtime_only)
        # (Through JSON, to compare with what rows read back.)
        new_nodes = json.loads(json.dumps(expanded["nodes"]))
        steps = extract_steps(
            _node_dicts(session, deployment),
            {
                "description": deployment.description,
                "outputs": deployment.outputs,
                "workflows": deployment.workflows,
            },
            {
                "nodes": new_nodes,
                "description": plan.get("description"),
                "outputs": json.loads(json.dumps(expanded.get("outputs") or {})),
                "workflows": json.loads(json.dumps(expanded.get("workflows") or {})),
            },
        )
    except DslError as exc:
        raise CodedError(exc.message, exc.error_code) from None
    return expanded, new_nodes, steps


def _check_idle(session: Session, deployment: Deployment) -> None:
    """One execution per deployment: an update waits for nothing, it is refused instead."""
    session.execute(select(Deployment.pk).where(Deployment.pk == deployment.pk).with_for_update())
    busy = session.scalar(
        select(Execution.id).where(
            Execution.deployment_pk == deployment.pk,
            Execution.status.in_(execution_states.ACTIVE_STATES | {execution_states.QUEUED}),
        )
    )
    if busy is not None:
        raise CodedError(
            f"The deployment `{deployment.id}` has a running or queued execution (`{busy}`); "
            "wait for it to end before updating the deployment",
            "existing_running_execution_error",
        )


def _check_reinstall_list(session: Session, deployment: Deployment, ids: list[str]) -> None:
    """Every instance `--reinstall-list` names must be one of the deployment's."""
    if not ids:
        return
    known = set(session.scalars(select(NodeInstance.id).where(of_deployment(deployment.pk, ids))))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise BadParameters(
            f"Parameter `reinstall_list` names node instances that deployment "
            f"`{deployment.id}` does not have: {', '.join(unknown)}"
        )


def _preview(
    principal: Principal, deployment: Deployment, fields: dict[str, Any]
) -> dict[str, Any]:
    return {
        **fields,
        "deployment_id": deployment.id,
        "state": PREVIEW,
        "execution_id": None,
        "recursive_dependencies": [],
        "schedules_to_create": [],
        "schedules_to_delete": [],
        "labels_to_create": [],
        "visibility": deployment.visibility,
        "tenant_name": principal.tenant_name,
        "created_at": None,
    }


def _node_dicts(session: Session, deployment: Deployment) -> list[dict[str, Any]]:
    rows = session.scalars(select(Node).where(Node.deployment_pk == deployment.pk))
    return [
        {
            "id": n.id,
            "type": n.type,
            "type_hierarchy": n.type_hierarchy,
            "properties": n.properties,
            "operations": n.operations,
            "relationships": n.relationships,
        }
        for n in rows
    ]


def _set_deployment(
    deployment: Deployment,
    blueprint: Blueprint,
    plan: dict[str, Any],
    expanded: dict[str, Any],
    runtime_only: bool,
) -> None:
    deployment.blueprint = blueprint
    deployment.inputs = expanded["inputs"]
    deployment.description = plan.get("description")
    deployment.outputs = expanded.get("outputs") or {}
    deployment.capabilities = expanded.get("capabilities") or {}
    deployment.groups = expanded.get("groups") or {}
    deployment.policy_types = plan.get("policy_types") or {}
    deployment.policy_triggers = plan.get("policy_triggers") or {}
    deployment.scaling_groups = expanded.get("scaling_groups") or {}
    deployment.workflows = expanded.get("workflows") or {}
    deployment.resource_tags = expanded.get("resource_tags")
    deployment.runtime_only_evaluation = runtime_only
    deployment.updated_at = utcnow()
