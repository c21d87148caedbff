"""Search routes (`POST /searches/<resource>`): a resource's list narrowed by Cloudify filter
rules or DSL constraints, what `client.blueprints.list(filter_rules=...)` and its siblings send.

Each search takes the query parameters of the resource's `GET` list and answers with the same
body, plus `metadata.filtered`: how many rows the rules hid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Select
from sqlalchemy.orm import Session, undefer

from manager.api import blueprints, deployments, secrets
from manager.api.deps import CurrentPrincipal, SessionDep, get_database, require
from manager.api.pagination import ListQuery, ListSpec, apply_query, parse_list_query, run_list
from manager.db import Blueprint, Deployment, Secret
from manager.schemas.blueprints import BlueprintRead, blueprint_read
from manager.schemas.common import READ, ListRead
from manager.schemas.deployments import (
    DeploymentRead,
    WorkflowRead,
    deployment_read,
    workflow_items,
)
from manager.schemas.searches import SearchBody
from manager.schemas.secrets import SecretRead, secret_list_item
from manager.services import deployments as deployment_service
from manager.services import filter_rules
from manager.services.filter_rules import FilterRule, Searchable
from manager.services.identity import Principal

router = APIRouter(prefix="/searches", tags=["searches"])


# The attributes are cloudify-manager 7.0.5's (plus a deployment's `id`).
BLUEPRINTS = Searchable(
    name="blueprints",
    attributes={
        "id": Blueprint.id,
        "state": Blueprint.state,
        "tenant_name": filter_rules.tenant_name_of(Blueprint),
        "created_by": filter_rules.creator_of(Blueprint),
    },
    labels=Blueprint.labels,
)
DEPLOYMENTS = deployment_service.SEARCHABLE
SECRETS = Searchable(
    name="secrets",
    attributes={"key": Secret.key},
    name_attribute="key",
    id_attribute="key",
)


def get_read_session(request: Request, session: SessionDep) -> Iterator[Session]:
    """A search is a read sent as POST: it ends the transaction authentication began in the
    request's (writing) session, and reads in a session that takes no write lock."""
    session.rollback()
    read = get_database(request).session(write=False)
    try:
        yield read
    finally:
        read.close()


ReadSessionDep = Annotated[Session, Depends(get_read_session)]
Statement = Callable[[Principal, ListQuery], Select[Any]]
Rules = list[FilterRule] | None
# What a search answers, from the caller's session and principal, the list's query parameters
# and the body's rules.
Answer = Callable[[Session, Principal, ListQuery, Rules], dict[str, Any]]


def _add_search(
    name: str,
    list_model: type[Any],
    permission: str,
    searchable: Searchable,
    spec: ListSpec,
    answer: Answer,
    doc: str | None = None,
) -> None:
    """Add `POST /searches/<name>`: parse the query parameters by `spec` and the body's rules
    about `searchable`, and let `answer` answer. `doc` is its description in the OpenAPI
    document."""

    def search(
        request: Request,
        session: ReadSessionDep,
        principal: CurrentPrincipal,
        body: SearchBody | None = None,
    ) -> dict[str, Any]:
        query = parse_list_query(request, spec)
        return answer(session, principal, query, _rules(query, body, searchable))

    search.__doc__ = doc
    router.add_api_route(
        f"/{name}",
        search,
        methods=["POST"],
        name=f"search_{name}",
        response_model=list_model,
        **READ,
        dependencies=[require(permission)],
    )


def _list(
    session: Session,
    principal: Principal,
    query: ListQuery,
    rules: Rules,
    *,
    searchable: Searchable,
    spec: ListSpec,
    statement: Statement,
    serialize: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """A resource's list (its spec, statement and serializer) narrowed by the rules."""
    conditions = (
        None if rules is None else filter_rules.conditions(rules, searchable, _dialect(session))
    )
    stmt = statement(principal, query)
    return run_list(session, stmt, spec, query, serialize, filter_rules=conditions)


def _workflows(
    session: Session, principal: Principal, query: ListQuery, rules: Rules
) -> dict[str, Any]:
    """The workflows of every deployment the rules match, each distinct one once; like
    Cloudify, all of them on one page."""
    stmt = apply_query(deployments.list_statement(principal, query), deployments.LIST_SPEC, query)
    if rules:
        stmt = stmt.where(*filter_rules.conditions(rules, DEPLOYMENTS, _dialect(session)))
    rows = session.execute(stmt.options(undefer(Deployment.workflows))).scalars().all()
    distinct = {
        json.dumps(item, sort_keys=True, default=str): item
        for deployment in rows
        for item in workflow_items(deployment)
    }
    items = sorted(
        distinct.values(), key=lambda item: (item["name"], json.dumps(item, default=str))
    )
    pagination = {"total": len(items), "size": len(items), "offset": 0}
    return {"items": items, "metadata": {"pagination": pagination}}


def _add_list_search(
    searchable: Searchable,
    list_model: type[Any],
    permission: str,
    spec: ListSpec,
    statement: Statement,
    serialize: Callable[[Any], dict[str, Any]],
) -> None:
    """Add the search of a resource's `GET` list (its spec, statement and serializer)."""
    answer = partial(
        _list, searchable=searchable, spec=spec, statement=statement, serialize=serialize
    )
    _add_search(searchable.name, list_model, permission, searchable, spec, answer)


_add_list_search(
    BLUEPRINTS, ListRead[BlueprintRead], "blueprint_list", blueprints.LIST_SPEC,
    blueprints.list_statement, blueprint_read,
)  # fmt: skip
_add_list_search(
    DEPLOYMENTS, ListRead[DeploymentRead], "deployment_list", deployments.LIST_SPEC,
    deployments.list_statement, deployment_read,
)  # fmt: skip
_add_list_search(
    SECRETS, ListRead[SecretRead], "secret_list", secrets.LIST_SPEC,
    secrets.list_statement, secret_list_item,
)  # fmt: skip
_add_search(
    "workflows", ListRead[WorkflowRead], "deployment_list", DEPLOYMENTS, deployments.LIST_SPEC,
    _workflows, _workflows.__doc__,
)  # fmt: skip


def _rules(
    query: ListQuery, body: SearchBody | None, searchable: Searchable
) -> list[FilterRule] | None:
    if filter_id := query.params.get("_filter_id"):
        filter_rules.refuse_saved_filter(filter_id)
    body = body or SearchBody()
    return filter_rules.rules_of_search(body.filter_rules, body.constraints, searchable)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name
