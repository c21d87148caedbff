"""Deployment groups: named sets of a tenant's deployments, filled by ids, filter rules,
another group or new deployments of the group's default blueprint. A group's labels are
given to every deployment in it, as Cloudify does."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from manager.db import Deployment, DeploymentGroup
from manager.errors import BadParameters, Conflict, NotFound
from manager.permissions import authorize
from manager.schemas.deployments import DeploymentCreate
from manager.schemas.groups import DeploymentGroupPut, DeploymentsSelection
from manager.services import blueprints, deployments, filter_rules, labels
from manager.services.identity import Principal
from manager.services.tenancy import check_own_tenant, visible
from manager.uploads import check_id

VISIBILITIES = ("private", "tenant", "global")
# `new_deployments` ids are templates: `{uuid}`, `{count}`, `{group_id}`, `{blueprint_id}`
# and `{site_name}` are filled in (Cloudify's default is `{group_id}-{uuid}`).
DEFAULT_NEW_ID = "{group_id}-{uuid}"


def listed() -> Select[Any]:
    return select(DeploymentGroup)


def get(session: Session, principal: Principal, group_id: str) -> DeploymentGroup:
    stmt = visible(
        select(DeploymentGroup).where(DeploymentGroup.id == group_id), DeploymentGroup, principal
    )
    group = session.scalars(stmt.order_by(DeploymentGroup.tenant_pk != principal.tenant_pk)).first()
    if group is None:
        raise NotFound.of("DeploymentGroup", group_id)
    return group


def _own(session: Session, principal: Principal, group_id: str) -> DeploymentGroup | None:
    return session.scalars(
        select(DeploymentGroup).where(
            DeploymentGroup.id == group_id, DeploymentGroup.tenant_pk == principal.tenant_pk
        )
    ).first()


def put(
    session: Session, principal: Principal, group_id: str, body: DeploymentGroupPut
) -> DeploymentGroup:
    """Create the group, or update it: only the attributes given change."""
    check_id("deployment group", group_id)
    if body.visibility is not None and body.visibility not in VISIBILITIES:
        raise BadParameters(
            f"Invalid visibility `{body.visibility}`: use one of {', '.join(VISIBILITIES)}"
        )
    if body.visibility == "global":
        authorize(principal, "create_global_resource")
    group = _own(session, principal, group_id)
    if group is None:
        group = DeploymentGroup(
            id=group_id,
            tenant_pk=principal.tenant_pk,
            created_by_pk=principal.user_pk,
            visibility=body.visibility or "tenant",
            default_inputs={},
            labels=[],
            deployments=[],
        )
        session.add(group)
    elif body.visibility is not None:
        group.visibility = body.visibility
    if body.description is not None:
        group.description = body.description
    if body.default_inputs is not None:
        group.default_inputs = body.default_inputs
    if body.blueprint_id:
        group.default_blueprint = blueprints.get(session, principal, body.blueprint_id)
    if body.labels is not None:
        _set_labels(group, labels.parse_labels(body.labels), principal)
    overriding = (
        body.deployment_ids is not None or body.filter_id is not None or body.deployments_from_group
    )
    if overriding:
        group.deployments = []
    _add(session, principal, group, body)
    session.flush()
    return group


def patch(
    session: Session,
    principal: Principal,
    group_id: str,
    add: DeploymentsSelection | None,
    remove: DeploymentsSelection | None,
) -> DeploymentGroup:
    group = get(session, principal, group_id)
    check_own_tenant(principal, group, "change")
    if add is not None:
        _add(session, principal, group, add)
    if remove is not None:
        if remove.new_deployments:
            raise BadParameters("`new_deployments` can only be added to a group")
        doomed = {d.pk for d in _selected(session, principal, remove)}
        group.deployments = [d for d in group.deployments if d.pk not in doomed]
    session.flush()
    return group


def delete(
    session: Session,
    principal: Principal,
    group_id: str,
    *,
    delete_deployments: bool,
    force: bool,
) -> None:
    """Remove the group; its deployments stay unless `delete_deployments` (then each is
    deleted by the rules of `DELETE /deployments/{id}`, and any refusal keeps everything)."""
    group = get(session, principal, group_id)
    check_own_tenant(principal, group, "delete")
    if delete_deployments:
        for deployment in list(group.deployments):
            deployments.delete_deployment(session, principal, deployment.id, force=force)
    session.delete(group)
    session.flush()


def join(
    session: Session, principal: Principal, deployment: Deployment, group_ids: list[Any]
) -> None:
    """Put a new deployment in its blueprint's `deployment_settings.default_groups`,
    creating the groups that do not exist yet."""
    for group_id in group_ids:
        if not isinstance(group_id, str):
            raise BadParameters(
                f"deployment_settings.default_groups must list group ids, got {group_id!r}"
            )
        group = _own(session, principal, group_id)
        if group is None:
            group = put(session, principal, group_id, DeploymentGroupPut())
        add_members(group, [deployment], principal)


def _set_labels(group: DeploymentGroup, pairs: list[labels.Pair], principal: Principal) -> None:
    """The group's labels become `pairs`; members gain the new ones and lose the dropped."""
    old = labels.pairs_of(group.labels)
    dropped = [pair for pair in old if pair not in pairs]
    group.labels = [
        *[label for label in group.labels if (label["key"], label["value"]) in pairs],
        *labels.rows([p for p in pairs if p not in old], principal),
    ]
    for deployment in group.deployments:
        deployment.labels = labels.add(labels.remove(deployment.labels, dropped), pairs, principal)


def add_members(group: DeploymentGroup, found: list[Deployment], principal: Principal) -> None:
    """Add deployments to the group (each once), giving them the group's labels."""
    present = {d.pk for d in group.deployments}
    pairs = labels.pairs_of(group.labels)
    for deployment in found:
        if pairs:
            deployment.labels = labels.add(deployment.labels, pairs, principal)
        if deployment.pk not in present:
            group.deployments.append(deployment)
            present.add(deployment.pk)


def _add(
    session: Session, principal: Principal, group: DeploymentGroup, body: DeploymentsSelection
) -> None:
    add_members(group, _selected(session, principal, body), principal)
    if body.new_deployments:
        created = _create_new(session, principal, group, body.new_deployments)
        add_members(group, created, principal)


def _selected(
    session: Session, principal: Principal, body: DeploymentsSelection
) -> list[Deployment]:
    """The deployments a selection names: by id (each must exist), by filter rules (the
    tenant's own deployments they match) and from another group."""
    found: dict[int, Deployment] = {}
    for deployment_id in body.deployment_ids or []:
        deployment = deployments.get(session, principal, deployment_id)
        found[deployment.pk] = deployment
    if body.filter_id is not None:
        filter_rules.refuse_saved_filter(body.filter_id)
    if body.filter_rules:
        rules = filter_rules.parse_rules(body.filter_rules, deployments.SEARCHABLE)
        dialect = session.get_bind().dialect.name
        stmt = select(Deployment).where(
            Deployment.tenant_pk == principal.tenant_pk,
            *filter_rules.conditions(rules, deployments.SEARCHABLE, dialect),
        )
        for deployment in session.scalars(visible(stmt, Deployment, principal)):
            found[deployment.pk] = deployment
    if body.deployments_from_group:
        for deployment in get(session, principal, body.deployments_from_group).deployments:
            found[deployment.pk] = deployment
    return sorted(found.values(), key=lambda d: d.id)


def _create_new(
    session: Session, principal: Principal, group: DeploymentGroup, specs: list[dict[str, Any]]
) -> list[Deployment]:
    """New deployments of the group's default blueprint, with its default inputs under each
    spec's own; created at once, like any `PUT /deployments/{id}`."""
    if group.default_blueprint is None:
        raise Conflict(f"Cannot create deployments: group {group.id} has no default blueprint set")
    created = []
    for count, spec in enumerate(specs, start=len(group.deployments) + 1):
        if not isinstance(spec, dict):
            raise BadParameters(f"Each of `new_deployments` must be an object, got {spec!r}")
        names = {
            "uuid": str(uuid.uuid4()),
            "count": count,
            "group_id": group.id,
            "blueprint_id": group.default_blueprint.id,
            "site_name": spec.get("site_name") or "",
        }
        try:
            deployment_id = str(spec.get("id") or DEFAULT_NEW_ID).format(**names)
            display_name = spec.get("display_name")
            display_name = str(display_name).format(**names) if display_name else None
        except (KeyError, IndexError, ValueError) as exc:
            raise BadParameters(f"Bad template in new_deployments {spec!r}: {exc}") from None
        body = DeploymentCreate(
            blueprint_id=group.default_blueprint.id,
            inputs={**group.default_inputs, **(spec.get("inputs") or {})},
            labels=spec.get("labels") or [],
            display_name=display_name,
            site_name=spec.get("site_name"),
            visibility=group.visibility if group.visibility != "global" else "tenant",
        )
        created.append(deployments.create(session, principal, deployment_id, body))
    return created
