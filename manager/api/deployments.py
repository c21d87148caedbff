"""Deployment routes: create with inputs, read (with evaluated outputs), list, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Select

from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, UnitOfWorkDep, require
from manager.api.pagination import (
    ListQuery,
    ListSpec,
    parse_bool,
    parse_include,
    parse_list_query,
    project,
    run_list,
    visible_in_list,
)
from manager.db import Deployment
from manager.schemas.common import READ, ListRead, VisibilityChange
from manager.schemas.deployments import (
    FIELDS,
    DeploymentCapabilitiesRead,
    DeploymentCreate,
    DeploymentOutputsRead,
    DeploymentRead,
    deployment_read,
)
from manager.schemas.groups import LabelsUpdate
from manager.services import deployments, visibility
from manager.services.function_storage import DeploymentStorage
from manager.services.identity import Principal

router = APIRouter(prefix="/deployments", tags=["deployments"])

LIST_SPEC = ListSpec(
    columns={
        "id": Deployment.id,
        "blueprint_id": deployments.blueprint_id_column(),
        "display_name": Deployment.display_name,
        "created_at": Deployment.created_at,
        "updated_at": Deployment.updated_at,
        "visibility": Deployment.visibility,
        "site_name": Deployment.site_name,
        "installation_status": Deployment.installation_status,
        "deployment_status": Deployment.deployment_status,
    },
    fields=FIELDS,
    tie_breaker=Deployment.pk,
    search_column=Deployment.id,
    extra_params=(
        "_search_name",
        "all_sub_deployments",
        "include_workdir",
        "_group_id",
        "deployment_group_id",
    ),
)


@router.get(
    "", response_model=ListRead[DeploymentRead], **READ, dependencies=[require("deployment_list")]
)
def list_deployments(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    stmt = list_statement(principal, query)
    return run_list(session, stmt, LIST_SPEC, query, deployment_read)


def list_statement(principal: Principal, query: ListQuery) -> Select[Any]:
    """The deployments a list shows (also `POST /searches/deployments` and
    `/searches/workflows`), with `_search_name`, before the other filters."""
    stmt = visible_in_list(
        deployments.listed(),
        Deployment,
        principal,
        query,
    )
    if search_name := query.params.get("_search_name"):
        stmt = stmt.where(Deployment.display_name.contains(search_name, autoescape=True))
    # `cfy deployments list -g GROUP` sends `_group_id`; the rest client also knows
    # `deployment_group_id`.
    group_id = query.params.get("_group_id") or query.params.get("deployment_group_id")
    if group_id:
        stmt = deployments.in_group(stmt, principal, group_id)
    return stmt


@router.put(
    "/{deployment_id}",
    status_code=201,
    response_model=DeploymentRead,
    **READ,
    dependencies=[require("deployment_create")],
)
def create_deployment(
    deployment_id: str, body: DeploymentCreate, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    deployment = deployments.create(work.session, principal, deployment_id, body)
    work.commit()
    return deployment_read(deployment)


@router.get(
    "/{deployment_id}",
    response_model=DeploymentRead,
    **READ,
    dependencies=[require("deployment_get")],
)
def get_deployment(
    deployment_id: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    fields = parse_include(request, FIELDS)
    return project(deployment_read(deployments.get(session, principal, deployment_id)), fields)


@router.patch(
    "/{deployment_id}",
    response_model=DeploymentRead,
    **READ,
    dependencies=[require("deployment_update")],
)
def update_deployment_labels(
    deployment_id: str, body: LabelsUpdate, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    body.refuse_others("deployment")
    deployment = deployments.set_labels(work.session, principal, deployment_id, body.labels)
    work.commit()
    return deployment_read(deployment)


@router.delete("/{deployment_id}", status_code=204, dependencies=[require("deployment_delete")])
def delete_deployment(
    deployment_id: str, request: Request, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> Response:
    force = parse_bool(request.query_params.get("force"), "force")
    deployments.delete_deployment(work.session, principal, deployment_id, force=force)
    work.commit()
    return Response(status_code=204)


@router.get(
    "/{deployment_id}/outputs",
    response_model=DeploymentOutputsRead,
    dependencies=[require("deployment_get")],
)
def deployment_outputs(
    deployment_id: str, session: SessionDep, settings: SettingsDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    return _evaluated(session, settings.secret_key, principal, deployment_id, "outputs")


@router.get(
    "/{deployment_id}/capabilities",
    response_model=DeploymentCapabilitiesRead,
    dependencies=[require("deployment_capabilities")],
)
def deployment_capabilities(
    deployment_id: str, session: SessionDep, settings: SettingsDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    return _evaluated(session, settings.secret_key, principal, deployment_id, "capabilities")


@router.patch(
    "/{deployment_id}/set-visibility",
    response_model=DeploymentRead,
    **READ,
    dependencies=[require("resource_set_visibility")],
)
def set_deployment_visibility(
    deployment_id: str, body: VisibilityChange, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    deployment = deployments.get(work.session, principal, deployment_id)
    visibility.widen(work.session, principal, deployment, body.visibility)
    work.commit()
    return deployment_read(deployment)


def _evaluated(
    session: SessionDep,
    secret_key: str,
    principal: CurrentPrincipal,
    deployment_id: str,
    section: str,
) -> dict[str, Any]:
    from manager.dsl import evaluate_outputs

    deployment = deployments.get(session, principal, deployment_id)
    # Secrets resolve for the caller: another user's private secret, or a hidden value the
    # caller may not read, becomes that output's "<ERROR: ...>" like a missing secret.
    storage = DeploymentStorage(session, deployment, secret_key, principal)
    values = evaluate_outputs(getattr(deployment, section) or {}, storage)
    return {"deployment_id": deployment.id, section: values}
