"""Nodes and node instances: lists, reads (optionally with functions evaluated), PATCH."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, UnitOfWorkDep, require
from manager.api.pagination import (
    ListSpec,
    apply_query,
    count_rows,
    list_response,
    order_and_page,
    parse_bool,
    parse_include,
    parse_list_query,
    project,
    visible_in_list,
)
from manager.db import Deployment, Node, NodeInstance
from manager.schemas.common import READ, ListRead
from manager.schemas.deployments import (
    INSTANCE_FIELDS,
    NODE_FIELDS,
    NodeInstanceRead,
    NodeRead,
    instance_read,
    node_read,
)
from manager.services import node_instances
from manager.services.function_storage import DeploymentStorage, evaluation_error
from manager.services.identity import Principal

router = APIRouter(tags=["nodes"])

NODE_SPEC = ListSpec(
    columns={
        "id": Node.id,
        "deployment_id": Deployment.id,
        "type": Node.type,
        "host_id": Node.host_id,
    },
    fields=NODE_FIELDS,
    default_sort=("deployment_id", "id"),
    tie_breaker=Node.pk,
    search_column=Node.id,
    extra_params=("_evaluate_functions", "_instance_counts", "_instance_context"),
)
INSTANCE_SPEC = ListSpec(
    columns={
        "id": NodeInstance.id,
        "node_id": NodeInstance.node_id,
        "deployment_id": Deployment.id,
        "state": NodeInstance.state,
        "host_id": NodeInstance.host_id,
        "index": NodeInstance.index,
    },
    fields=INSTANCE_FIELDS,
    default_sort=("node_id", "id"),
    tie_breaker=NodeInstance.pk,
    search_column=NodeInstance.id,
    extra_params=("_evaluate_functions",),
)


def _page(session: SessionDep, stmt: Any, spec: ListSpec, query: Any) -> tuple[list[Any], int]:
    filtered = apply_query(stmt, spec, query)
    total = count_rows(session, filtered)
    return list(session.execute(order_and_page(filtered, spec, query)).all()), total


@router.get(
    "/nodes", response_model=ListRead[NodeRead], **READ, dependencies=[require("node_list")]
)
def list_nodes(
    request: Request, session: SessionDep, settings: SettingsDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, NODE_SPEC)
    stmt = visible_in_list(
        node_instances.nodes_listed(),
        Deployment,
        principal,
        query,
    )
    rows, total = _page(session, stmt, NODE_SPEC, query)
    evaluate = parse_bool(request.query_params.get("_evaluate_functions"), "_evaluate_functions")
    context = request.query_params.get("_instance_context")
    items = []
    for node, deployment in rows:
        item = node_read(node, deployment)
        if evaluate:
            item["properties"] = _evaluate(
                session, settings.secret_key, principal, deployment, item["properties"], context
            )
        items.append(item)
    return list_response(items, total, query)


@router.get(
    "/node-instances",
    response_model=ListRead[NodeInstanceRead],
    **READ,
    dependencies=[require("node_instance_list")],
)
def list_node_instances(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, INSTANCE_SPEC)
    stmt = visible_in_list(
        node_instances.listed(),
        Deployment,
        principal,
        query,
    )
    rows, total = _page(session, stmt, INSTANCE_SPEC, query)
    return list_response([instance_read(i, d) for i, d in rows], total, query)


@router.get(
    "/node-instances/{instance_id}",
    response_model=NodeInstanceRead,
    **READ,
    dependencies=[require("node_instance_get")],
)
def get_node_instance(
    instance_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    include = parse_include(request, INSTANCE_FIELDS)
    instance, deployment = node_instances.get(session, principal, instance_id)
    item = instance_read(instance, deployment)
    if parse_bool(request.query_params.get("_evaluate_functions"), "_evaluate_functions"):
        item["runtime_properties"] = _evaluate(
            session,
            settings.secret_key,
            principal,
            deployment,
            item["runtime_properties"],
            instance.id,
        )
    return project(item, include)


@router.patch(
    "/node-instances/{instance_id}",
    response_model=NodeInstanceRead,
    **READ,
    dependencies=[require("node_instance_update")],
)
def patch_node_instance(
    instance_id: str,
    request: Request,
    work: UnitOfWorkDep,
    principal: CurrentPrincipal,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    force = parse_bool(request.query_params.get("force"), "force")
    instance, deployment = node_instances.update(
        work.session, principal, instance_id, body, force=force
    )
    work.commit()
    return instance_read(instance, deployment)


def _evaluate(
    session: SessionDep,
    secret_key: str,
    principal: Principal,
    deployment: Deployment,
    payload: Any,
    instance_id: str | None,
) -> Any:
    """Functions of node properties (how cloudify-common's `ctx.node` reads them) or runtime
    properties, with secrets resolved for the caller."""
    from manager.dsl import DslError, evaluate_functions

    storage = DeploymentStorage(session, deployment, secret_key, principal)
    try:
        return evaluate_functions(payload, {"self": instance_id} if instance_id else None, storage)
    except DslError as exc:
        raise evaluation_error(exc) from None
