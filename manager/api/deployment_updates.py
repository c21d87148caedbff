"""Deployment-update routes: start an update (`cfy deployments update`), read one
(`cfy deployments get-update`) and list them (`cfy deployments history`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, UnitOfWorkDep, require
from manager.api.pagination import (
    ListSpec,
    parse_include,
    parse_list_query,
    project,
    run_list,
    visible_in_list,
)
from manager.db import DeploymentUpdate
from manager.schemas.common import READ, ListRead
from manager.schemas.deployment_updates import (
    FIELDS,
    DeploymentUpdateRead,
    DeploymentUpdateStart,
    deployment_update_read,
)
from manager.services import deployment_updates

router = APIRouter(prefix="/deployment-updates", tags=["deployment-updates"])

LIST_SPEC = ListSpec(
    columns={
        "id": DeploymentUpdate.id,
        "deployment_id": deployment_updates.deployment_id_column(),
        "state": DeploymentUpdate.state,
        "execution_id": DeploymentUpdate.execution_id,
        "old_blueprint_id": DeploymentUpdate.old_blueprint_id,
        "new_blueprint_id": DeploymentUpdate.new_blueprint_id,
        "created_at": DeploymentUpdate.created_at,
        "visibility": DeploymentUpdate.visibility,
    },
    fields=FIELDS,
    tie_breaker=DeploymentUpdate.pk,
    search_column=DeploymentUpdate.id,
)


@router.get(
    "",
    response_model=ListRead[DeploymentUpdateRead],
    **READ,
    dependencies=[require("deployment_update_list")],
)
def list_deployment_updates(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    stmt = visible_in_list(deployment_updates.listed(), DeploymentUpdate, principal, query)
    return run_list(session, stmt, LIST_SPEC, query, deployment_update_read)


@router.get(
    "/{update_id}",
    response_model=DeploymentUpdateRead,
    **READ,
    dependencies=[require("deployment_update_get")],
)
def get_deployment_update(
    update_id: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    include = parse_include(request, FIELDS)
    record = deployment_updates.get(session, principal, update_id)
    return project(deployment_update_read(record), include)


@router.post(
    "/{deployment_id}/update/initiate",
    response_model=DeploymentUpdateRead,
    **READ,
    dependencies=[require("deployment_update_create")],
)
def initiate_deployment_update(
    deployment_id: str,
    work: UnitOfWorkDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    body: DeploymentUpdateStart | None = None,
) -> dict[str, Any]:
    """Start updating the deployment to a blueprint and/or inputs (`cfy deployments update`)."""
    result = deployment_updates.initiate(
        work.session,
        settings,
        principal,
        deployment_id,
        body or DeploymentUpdateStart(),
        work.outbox,
    )
    if isinstance(result, dict):  # a preview: nothing was written
        return result
    work.commit()
    return deployment_update_read(result)


@router.post(
    "/{update_id}/update/finalize",
    response_model=DeploymentUpdateRead,
    **READ,
    dependencies=[require("deployment_update_create")],
)
def finalize_deployment_update(
    update_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """What older clients send once the update's workflow ended; as in Cloudify 7 it only
    returns the update (the end of the workflow already finished it)."""
    return deployment_update_read(deployment_updates.get(session, principal, update_id))
