"""Routes operation code calls back with its `Execution-Token` (cloudify-common's REST
client, plugin-dispatch.md §7, §16.2): `POST /events`, the operation's own record, and
`POST /evaluate/functions`. Reads and writes of nodes, instances, blueprints, secrets and
executions are the ordinary routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, UnitOfWorkDep, require
from manager.api.pagination import (
    ListSpec,
    apply_query,
    count_rows,
    list_response,
    order_and_page,
    parse_list_query,
)
from manager.db import Operation
from manager.schemas.callbacks import (
    OPERATION_FIELDS,
    EventsCreate,
    EventsStored,
    FunctionsEvaluate,
    FunctionsEvaluated,
    OperationRead,
    OperationUpdate,
    operation_read,
)
from manager.schemas.common import READ, ListRead
from manager.services import callbacks

router = APIRouter(tags=["callbacks"])


# (The model documents the 201 answer: the route sends its own JSONResponse, or a 204.)
@router.post(
    "/events",
    status_code=201,
    response_model=EventsStored,
    responses={204: {"description": "The batch was empty: nothing was stored"}},
    dependencies=[require("event_create")],
)
def create_events(body: EventsCreate, work: UnitOfWorkDep, principal: CurrentPrincipal) -> Response:
    """201 when something was stored, 204 for an empty batch (as Cloudify answers)."""
    stored = callbacks.store_events(work.session, principal, body)
    work.commit()
    if not stored:
        return Response(status_code=204)
    return JSONResponse({"stored": stored}, status_code=201)


OPERATION_LIST = ListSpec(
    columns={
        "id": Operation.id,
        "execution_id": Operation.execution_id,
        "name": Operation.name,
        "created_at": Operation.created_at,
    },
    fields=OPERATION_FIELDS,
    default_sort=("created_at",),
    tie_breaker=Operation.id,
    # Tasks graphs are not stored: operations belong to their execution directly.
    extra_params=("graph_id", "skip_internal"),
)


@router.get(
    "/operations",
    response_model=ListRead[OperationRead],
    **READ,
    dependencies=[require("operation_list")],
)
def list_operations(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """`client.operations.list(execution_id=...)`: an execution's operations, each with the
    ids of those it waits for. `graph_id` finds nothing (no tasks graphs are stored)."""
    query = parse_list_query(request, OPERATION_LIST)
    if query.params.get("graph_id"):
        return list_response([], 0, query)
    matching = apply_query(callbacks.listed_operations(principal), OPERATION_LIST, query)
    total = count_rows(session, matching)
    page = list(session.scalars(order_and_page(matching, OPERATION_LIST, query)))
    dependencies = callbacks.dependencies_of(session, page)
    items = [operation_read(row, dependencies[row.id]) for row in page]
    return list_response(items, total, query)


@router.get(
    "/operations/{operation_id}",
    response_model=OperationRead,
    dependencies=[require("operation_get")],
)
def get_operation(
    operation_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    return operation_read(callbacks.get_operation(session, principal, operation_id))


@router.patch(
    "/operations/{operation_id}",
    response_model=OperationRead,
    dependencies=[require("operation_update")],
)
def update_operation(
    operation_id: str, body: OperationUpdate, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Acknowledged, not applied: the operation's worker reports how it ended."""
    operation = callbacks.acknowledge_update(session, principal, operation_id, body)
    return operation_read(operation)


@router.post(
    "/evaluate/functions",
    response_model=FunctionsEvaluated,
    dependencies=[require("functions_evaluate")],
)
def evaluate_functions(
    body: FunctionsEvaluate, session: SessionDep, settings: SettingsDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    payload = callbacks.evaluate(
        session, principal, settings.secret_key, body.deployment_id, body.context, body.payload
    )
    return {"deployment_id": body.deployment_id, "payload": payload}
