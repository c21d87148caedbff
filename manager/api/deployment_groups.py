"""Deployment group routes (`/deployment-groups`): list, read, create or update (PUT), add
and remove deployments (PATCH), delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from manager.api.deps import CurrentPrincipal, SessionDep, UnitOfWorkDep, require
from manager.api.pagination import ListSpec, parse_bool, parse_list_query, run_list, visible_in_list
from manager.db import DeploymentGroup
from manager.schemas.common import READ, ListRead
from manager.schemas.groups import (
    DEPLOYMENT_GROUP_FIELDS,
    DeploymentGroupPatch,
    DeploymentGroupPut,
    DeploymentGroupRead,
    deployment_group_read,
)
from manager.services import deployment_groups

router = APIRouter(prefix="/deployment-groups", tags=["deployment-groups"])

LIST_SPEC = ListSpec(
    columns={
        "id": DeploymentGroup.id,
        "description": DeploymentGroup.description,
        "created_at": DeploymentGroup.created_at,
        "visibility": DeploymentGroup.visibility,
    },
    fields=DEPLOYMENT_GROUP_FIELDS,
    tie_breaker=DeploymentGroup.pk,
    search_column=DeploymentGroup.id,
    extra_params=("_get_all_results",),
)


@router.get(
    "",
    response_model=ListRead[DeploymentGroupRead],
    **READ,
    dependencies=[require("deployment_group_list")],
)
def list_deployment_groups(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    stmt = visible_in_list(deployment_groups.listed(), DeploymentGroup, principal, query)
    return run_list(session, stmt, LIST_SPEC, query, deployment_group_read)


@router.get(
    "/{group_id}",
    response_model=DeploymentGroupRead,
    **READ,
    dependencies=[require("deployment_group_get")],
)
def get_deployment_group(
    group_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    return deployment_group_read(deployment_groups.get(session, principal, group_id))


@router.put(
    "/{group_id}",
    response_model=DeploymentGroupRead,
    **READ,
    dependencies=[require("deployment_group_create")],
)
def put_deployment_group(
    group_id: str, body: DeploymentGroupPut, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    group = deployment_groups.put(work.session, principal, group_id, body)
    work.commit()
    return deployment_group_read(group)


@router.patch(
    "/{group_id}",
    response_model=DeploymentGroupRead,
    **READ,
    dependencies=[require("deployment_group_update")],
)
def patch_deployment_group(
    group_id: str, body: DeploymentGroupPatch, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    group = deployment_groups.patch(work.session, principal, group_id, body.add, body.remove)
    work.commit()
    return deployment_group_read(group)


@router.delete("/{group_id}", status_code=204, dependencies=[require("deployment_group_delete")])
def delete_deployment_group(
    group_id: str, request: Request, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> Response:
    params = request.query_params
    deployment_groups.delete(
        work.session,
        principal,
        group_id,
        delete_deployments=parse_bool(params.get("delete_deployments"), "delete_deployments"),
        force=parse_bool(params.get("force"), "force"),
    )
    work.commit()
    return Response(status_code=204)
