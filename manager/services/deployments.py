"""Deployments: creation from a blueprint's plan (nodes and instances in bulk), reads, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, Select, delete, insert, select
from sqlalchemy.orm import Session, selectinload

from manager.db import Blueprint, Deployment, Execution, Node, NodeInstance
from manager.db.base import utcnow
from manager.errors import CodedError, Conflict, DependentExists, NotFound
from manager.orchestration import executions as execution_states
from manager.schemas.deployments import DeploymentCreate
from manager.services import (
    blueprints,
    deployment_dependents,
    executions,
    filter_rules,
    labels,
    secrets,
)
from manager.services.identity import Principal
from manager.services.tenancy import check_own_tenant, get_visible, visible
from manager.uploads import check_id

LIVE_STATES_EXCLUDED = ("uninitialized", "deleted")


def listed() -> Select[Any]:
    """Deployments as lists read them (with the latest execution loaded)."""
    return select(Deployment).options(
        selectinload(Deployment.latest_execution), selectinload(Deployment.deployment_groups)
    )


def blueprint_id_column() -> ScalarSelect[str]:
    """A deployment's blueprint id, as a column lists sort and filter by."""
    return select(Blueprint.id).where(Blueprint.pk == Deployment.blueprint_pk).scalar_subquery()


# What deployments may be searched by: cloudify-manager 7.0.5's attributes (plus `id`) and
# their labels (`POST /searches/deployments`, deployment groups' `filter_rules`).
SEARCHABLE = filter_rules.Searchable(
    name="deployments",
    attributes={
        "id": Deployment.id,
        "blueprint_id": blueprint_id_column(),
        "created_by": filter_rules.creator_of(Deployment),
        "display_name": Deployment.display_name,
        "installation_status": Deployment.installation_status,
        # Execution schedules are not kept here: no deployment has any.
        "schedules": None,
        "site_name": Deployment.site_name,
        "tenant_name": filter_rules.tenant_name_of(Deployment),
    },
    labels=Deployment.labels,
    name_attribute="display_name",
    operators_of={"schedules": ("is_not_empty",)},
)


def in_group(stmt: Select[Any], principal: Principal, group_id: str) -> Select[Any]:
    """`stmt` narrowed to the deployments of one deployment group the caller can see."""
    from manager.db.groups import DeploymentGroup, deployment_group_members

    groups = visible(
        select(DeploymentGroup.pk).where(DeploymentGroup.id == group_id),
        DeploymentGroup,
        principal,
    )
    members = select(deployment_group_members.c.deployment_pk).where(
        deployment_group_members.c.group_pk.in_(groups)
    )
    return stmt.where(Deployment.pk.in_(members))


def get(session: Session, principal: Principal, deployment_id: str) -> Deployment:
    return get_visible(session, principal, Deployment, deployment_id)


def create(
    session: Session, principal: Principal, deployment_id: str, body: DeploymentCreate
) -> Deployment:
    """Validate inputs, expand the plan into nodes and instances, and store them in bulk."""
    from manager.dsl import DslError, create_deployment_plan

    check_id("deployment", deployment_id)
    blueprint = blueprints.get(session, principal, body.blueprint_id)
    if blueprint.state != "uploaded" or blueprint.plan is None:
        raise CodedError(
            "Unable to create a deployment based on a blueprint which is not `uploaded` "
            f"(blueprint `{blueprint.id}` is {blueprint.state})",
            "deployment_creation_error",
        )
    existing = session.scalar(
        select(Deployment.pk).where(
            Deployment.id == deployment_id, Deployment.tenant_pk == principal.tenant_pk
        )
    )
    if existing is not None:
        raise Conflict(
            f"deployment with id={deployment_id} already exists on tenant {principal.tenant_name}"
        )
    plan = blueprint.plan
    try:
        expanded = create_deployment_plan(
            plan, body.inputs, runtime_only_evaluation=body.runtime_only_evaluation
        )
    except DslError as exc:
        raise CodedError(exc.message, exc.error_code) from None

    check_secrets(session, principal, expanded)
    # The request's labels and those the YAML declares (evaluated), as Cloudify's
    # create_deployment_environment sets them.
    given_labels = labels.union(
        labels.parse_labels(body.labels), labels.plan_labels(expanded.get("labels"), "labels")
    )

    inputs = expanded["inputs"]
    now = utcnow()
    deployment = Deployment(
        id=deployment_id,
        tenant_pk=principal.tenant_pk,
        created_by_pk=principal.user_pk,
        blueprint=blueprint,
        display_name=body.display_name or deployment_id,
        visibility=body.visibility,
        created_at=now,
        updated_at=now,
        description=body.description or plan.get("description"),
        inputs=inputs,
        outputs=expanded.get("outputs") or {},
        capabilities=expanded.get("capabilities") or {},
        groups=expanded.get("groups") or {},
        policy_types=plan.get("policy_types") or {},
        policy_triggers=plan.get("policy_triggers") or {},
        scaling_groups=expanded.get("scaling_groups") or {},
        workflows=expanded.get("workflows") or {},
        labels=labels.rows(given_labels, principal),
        resource_tags=expanded.get("resource_tags"),
        site_name=body.site_name,
        runtime_only_evaluation=body.runtime_only_evaluation,
    )
    session.add(deployment)
    session.flush()
    insert_nodes(session, deployment, expanded["nodes"], expanded["node_instances"])

    # `cfy` looks for this execution before it lets a workflow start; the environment is
    # complete once the rows above commit, so it ends at once.
    create_env = executions.new_execution(
        session,
        principal,
        "create_deployment_environment",
        deployment=deployment,
        blueprint_id=blueprint.id,
        parameters={"inputs": inputs},
    )
    execution_states.transition(session, create_env, execution_states.STARTED)
    execution_states.transition(session, create_env, execution_states.TERMINATED)
    deployment.create_execution_id = create_env.id
    deployment.latest_execution_id = create_env.id
    session.flush()
    settings = expanded.get("deployment_settings") or {}
    if default_groups := settings.get("default_groups"):
        from manager.services import deployment_groups

        deployment_groups.join(session, principal, deployment, default_groups)
    return deployment


# The parts of a deployment plan where Cloudify looks for `get_secret` (dsl_parser's
# scan_service_template), after inputs were substituted.
_SECRET_SECTIONS = (
    "nodes",
    "outputs",
    "policies",
    "scaling_groups",
    "capabilities",
    "labels",
    "deployment_settings",
)


def check_secrets(session: Session, principal: Principal, expanded: dict[str, Any]) -> None:
    """Every secret the deployment names (statically) must exist: 400
    `unknown_deployment_secret_error` otherwise, as cloudify's prepare_deployment_plan."""
    from manager.dsl.functions import function_of

    names: list[str] = []

    def scan(value: Any) -> None:
        if isinstance(value, dict):
            call = function_of(value)
            if call is not None and call[0] == "get_secret":
                name = call[1][0] if isinstance(call[1], list) and call[1] else call[1]
                if isinstance(name, str) and name not in names:
                    names.append(name)
            for item in value.values():
                scan(item)
        elif isinstance(value, list):
            for item in value:
                scan(item)

    for section in _SECRET_SECTIONS:
        scan(expanded.get(section))
    missing = []
    for name in sorted(names):
        try:
            secrets.get(session, principal, name)
        except NotFound:
            missing.append(name)
    if missing:
        raise CodedError(
            f"Required secrets: [{', '.join(missing)}] don't exist in this tenant",
            "unknown_deployment_secret_error",
        )


def insert_nodes(
    session: Session,
    deployment: Deployment,
    nodes: list[dict[str, Any]],
    instances: list[dict[str, Any]],
) -> None:
    if not nodes:
        # A blueprint of inputs, outputs and capabilities only. An insert given an empty
        # list of rows would be run as one row of defaults (and fail on NOT NULL columns).
        return
    node_rows = [node_row(deployment, node) for node in nodes]
    returned = session.execute(insert(Node).returning(Node.pk, Node.id), node_rows).all()
    node_pks = {node_id: pk for pk, node_id in returned}
    if instances:
        session.execute(
            insert(NodeInstance),
            [
                {
                    "id": instance["id"],
                    "tenant_pk": deployment.tenant_pk,
                    "deployment_pk": deployment.pk,
                    "node_pk": node_pks[instance["node_id"]],
                    "node_id": instance["node_id"],
                    "state": "uninitialized",
                    "runtime_properties": {},
                    "system_properties": {},
                    "relationships": instance.get("relationships") or [],
                    "scaling_groups": instance.get("scaling_groups") or [],
                    "host_id": instance.get("host_id"),
                    "index": instance.get("index", 0),
                    "version": 1,
                }
                for instance in instances
            ],
        )


def node_row(deployment: Deployment, node: dict[str, Any]) -> dict[str, Any]:
    scalable = ((node.get("capabilities") or {}).get("scalable") or {}).get("properties") or {}
    current = int(scalable.get("current_instances", node.get("number_of_instances", 1)))
    return {
        "deployment_pk": deployment.pk,
        "id": node["id"],
        "type": node["type"],
        "type_hierarchy": node.get("type_hierarchy") or [node["type"]],
        "properties": node.get("properties") or {},
        "operations": node.get("operations") or {},
        "relationships": node.get("relationships") or [],
        "plugins": node.get("plugins") or [],
        "plugins_to_install": node.get("plugins_to_install"),
        "capabilities": node.get("capabilities"),
        "host_id": node.get("host_id"),
        "number_of_instances": current,
        "planned_number_of_instances": int(scalable.get("planned_instances", current)),
        "deploy_number_of_instances": int(scalable.get("default_instances", current)),
        "min_number_of_instances": int(scalable.get("min_instances", 0)),
        "max_number_of_instances": int(scalable.get("max_instances", -1)),
    }


def set_labels(
    session: Session, principal: Principal, deployment_id: str, raw_labels: Any
) -> Deployment:
    """Replace a deployment's labels (`cfy deployments labels add/delete`)."""
    deployment = get(session, principal, deployment_id)
    check_own_tenant(principal, deployment, "change the labels of")
    pairs = labels.parse_labels(raw_labels)
    deployment.labels = labels.replace(deployment.labels, pairs, principal)
    session.flush()
    return deployment


def delete_deployment(
    session: Session, principal: Principal, deployment_id: str, *, force: bool
) -> None:
    """Remove the deployment at once; refused while it runs or has live instances."""
    deployment = get(session, principal, deployment_id)
    check_own_tenant(principal, deployment, "delete")
    active = session.scalars(
        select(Execution.id).where(
            Execution.deployment_pk == deployment.pk,
            Execution.status.in_(execution_states.ACTIVE_STATES | {"queued", "scheduled"}),
        )
    ).all()
    if active:
        raise DependentExists(
            f"Can't delete deployment {deployment_id} - There are running or queued "
            f"executions for this deployment. Running executions ids: {', '.join(active)}"
        )
    if not force:
        users = deployment_dependents.users_of(session, deployment)
        if users:
            raise DependentExists(
                f"Can't delete deployment {deployment_id} - the following existing "
                f"installations depend on it: {', '.join(users)} (a component that created "
                "it, or a shared resource connected to it): uninstall them first"
            )
        live = session.scalars(
            select(NodeInstance.id)
            .where(
                NodeInstance.deployment_pk == deployment.pk,
                NodeInstance.state.not_in(LIVE_STATES_EXCLUDED),
            )
            .order_by(NodeInstance.id)
        ).all()
        if live:
            raise DependentExists(
                f"Can't delete deployment {deployment_id} - There are live nodes for this "
                f"deployment. Live nodes ids: {', '.join(live)}"
            )
    session.execute(delete(Deployment).where(Deployment.pk == deployment.pk))
