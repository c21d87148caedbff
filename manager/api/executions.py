"""Execution routes: start, list, read, and cancel/resume."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from manager.api.deps import (
    CurrentPrincipal,
    SessionDep,
    SettingsDep,
    UnitOfWorkDep,
    get_database,
    require,
    run_read,
)
from manager.api.pagination import (
    ListSpec,
    parse_bool,
    parse_include,
    parse_list_query,
    project,
    run_list,
    visible_in_list,
)
from manager.db import Execution
from manager.schemas.common import READ, ListRead
from manager.schemas.executions import (
    FIELDS,
    DeletedCount,
    ExecutionAction,
    ExecutionRead,
    ExecutionsDelete,
    ExecutionStart,
    ExecutionStatusUpdate,
    execution_read,
)
from manager.services import execution_groups, executions

log = logging.getLogger(__name__)

router = APIRouter(prefix="/executions", tags=["executions"])

LIST_SPEC = ListSpec(
    columns={
        "id": Execution.id,
        "workflow_id": Execution.workflow_id,
        "deployment_id": executions.deployment_id_column(),
        "blueprint_id": Execution.blueprint_id,
        "status": Execution.status,
        # `terminated` is displayed (and filtered) as `completed`.
        "status_display": Execution.status,
        "created_at": Execution.created_at,
        "started_at": Execution.started_at,
        "ended_at": Execution.ended_at,
        "is_system_workflow": Execution.is_system_workflow,
        "is_dry_run": Execution.is_dry_run,
        "visibility": Execution.visibility,
    },
    fields=FIELDS,
    tie_breaker=Execution.id,
    search_column=Execution.id,
    extra_params=("_include_system_workflows", "execution_group_id"),
)


@router.get(
    "", response_model=ListRead[ExecutionRead], **READ, dependencies=[require("execution_list")]
)
def list_executions(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    include_system = parse_bool(
        request.query_params.get("_include_system_workflows"), "_include_system_workflows"
    )
    if not include_system and "is_system_workflow" not in query.filters:
        query.filters["is_system_workflow"] = ["false"]
    if "status_display" in query.filters:
        query.filters["status_display"] = [
            "terminated" if value == "completed" else value
            for value in query.filters["status_display"]
        ]
    stmt = visible_in_list(executions.listed(), Execution, principal, query)
    if group_id := query.params.get("execution_group_id"):
        stmt = stmt.where(Execution.id.in_(execution_groups.member_ids(principal, group_id)))
    return run_list(session, stmt, LIST_SPEC, query, execution_read)


# (The model documents the answer: a JSONResponse is sent as it is, never validated.)
@router.get(
    "/{execution_id}", response_model=ExecutionRead, dependencies=[require("execution_get")]
)
async def get_execution(
    execution_id: str, request: Request, principal: CurrentPrincipal
) -> JSONResponse:
    """What dashboards and `cfy executions start` poll: async, with a known caller (see
    get_caller) one thread hop and one query, and no validation of the response. Known
    callers' successful reads are answered before routing (manager.api.polling)."""
    include = parse_include(request, FIELDS)
    execution = await run_read(
        request, executions.get_light, get_database(request), principal, execution_id
    )
    return JSONResponse(project(execution_read(execution), include))


@router.post(
    "",
    status_code=201,
    response_model=ExecutionRead,
    **READ,
    dependencies=[require("execution_start")],
)
def start_execution(
    body: ExecutionStart,
    work: UnitOfWorkDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Start a workflow. The answer is never a finished execution, as in Cloudify, whose
    clients (`cfy executions start`) then follow the events: a workflow with nothing to run
    (`stop` on a stopped deployment) is answered `started` and ended just after, in a second
    transaction."""
    execution = executions.start(
        work.session, settings, principal, body, work.outbox, end_now=False
    )
    work.commit()
    answer = execution_read(execution)
    if answer["status"] != "started":  # (queued: the watchdog starts it later)
        return answer
    try:
        executions.end_if_idle(work.session, answer["id"], work.outbox)
        work.commit()
    except Exception:  # (the execution is stored and answered; the watchdog ends it later)
        log.exception("could not end execution %s right after its start", answer["id"])
        work.rollback()
    return answer


@router.post(
    "/{execution_id}",
    response_model=ExecutionRead,
    **READ,
    dependencies=[require("execution_cancel")],
)
def control_execution(
    execution_id: str,
    body: ExecutionAction,
    work: UnitOfWorkDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    execution = executions.control(work.session, principal, execution_id, body.action, work.outbox)
    work.commit()
    return execution_read(execution)


@router.patch(
    "/{execution_id}",
    response_model=ExecutionRead,
    **READ,
    dependencies=[require("execution_status_update")],
)
def update_execution_status(
    execution_id: str, body: ExecutionStatusUpdate, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Cloudify's workflow-runner status update; refused while the engine runs operations."""
    execution = executions.set_status(
        work.session, principal, execution_id, body.status, body.error
    )
    work.commit()
    return execution_read(execution)


@router.get(
    "/{execution_id}/should-start", response_model=bool, dependencies=[require("execution_get")]
)
def should_start(execution_id: str, session: SessionDep, principal: CurrentPrincipal) -> bool:
    """True when no other execution of the deployment is active (queued executions ask)."""
    return executions.should_start(session, principal, execution_id)


@router.delete(
    "", response_model=ListRead[DeletedCount], dependencies=[require("execution_delete")]
)
def delete_executions(
    request: Request, body: ExecutionsDelete, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Delete ended executions older than `to_datetime`, or all but the `keep_last` newest."""
    filters = {k: v for k, v in request.query_params.items() if not k.startswith("_")}
    count = executions.delete_ended(
        work.session, principal, body.to_datetime, body.keep_last, filters
    )
    work.commit()
    return {
        "items": [{"count": count}],
        "metadata": {"pagination": {"total": 1, "size": 1, "offset": 0}},
    }
