"""Execution group routes (`/execution-groups`): start a workflow on every deployment of a
deployment group, list and read groups with their status, cancel or resume them, and set
their target groups or concurrency."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, UnitOfWorkDep, require
from manager.api.pagination import ListSpec, parse_list_query, run_list, visible_in_list
from manager.db import ExecutionGroup
from manager.schemas.common import READ, ListRead
from manager.schemas.groups import (
    EXECUTION_GROUP_FIELDS,
    ExecutionGroupAction,
    ExecutionGroupRead,
    ExecutionGroupStart,
    ExecutionGroupUpdate,
    execution_group_read,
)
from manager.services import execution_groups

router = APIRouter(prefix="/execution-groups", tags=["execution-groups"])

LIST_SPEC = ListSpec(
    columns={
        "id": ExecutionGroup.id,
        "workflow_id": ExecutionGroup.workflow_id,
        "deployment_group_id": ExecutionGroup.deployment_group_id,
        "created_at": ExecutionGroup.created_at,
        "visibility": ExecutionGroup.visibility,
    },
    fields=EXECUTION_GROUP_FIELDS,
    tie_breaker=ExecutionGroup.pk,
    search_column=ExecutionGroup.id,
    extra_params=("_get_all_results", "_get_data"),
)


def _read(group: ExecutionGroup) -> dict[str, Any]:
    return execution_group_read(group, execution_groups.status(group))


@router.get(
    "",
    response_model=ListRead[ExecutionGroupRead],
    **READ,
    dependencies=[require("execution_group_list")],
)
def list_execution_groups(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    stmt = visible_in_list(execution_groups.listed(), ExecutionGroup, principal, query)
    return run_list(session, stmt, LIST_SPEC, query, _read)


@router.get(
    "/{group_id}",
    response_model=ExecutionGroupRead,
    **READ,
    dependencies=[require("execution_group_get")],
)
def get_execution_group(
    group_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    return _read(execution_groups.get(session, principal, group_id))


# 200, not 201: cloudify-rest-client 7.0.5 accepts nothing else here.
@router.post(
    "",
    response_model=ExecutionGroupRead,
    **READ,
    dependencies=[require("execution_group_create")],
)
def start_execution_group(
    body: ExecutionGroupStart,
    work: UnitOfWorkDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    group = execution_groups.start(work.session, settings, principal, body, work.outbox)
    work.commit()
    return _read(group)


@router.post(
    "/{group_id}",
    response_model=ExecutionGroupRead,
    **READ,
    dependencies=[require("execution_group_cancel")],
)
def control_execution_group(
    group_id: str, body: ExecutionGroupAction, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    group = execution_groups.control(work.session, principal, group_id, body.action, work.outbox)
    work.commit()
    return _read(group)


@router.patch(
    "/{group_id}",
    response_model=ExecutionGroupRead,
    **READ,
    dependencies=[require("execution_group_update")],
)
def update_execution_group(
    group_id: str, body: ExecutionGroupUpdate, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    group = execution_groups.update(work.session, principal, group_id, body)
    work.commit()
    return _read(group)
