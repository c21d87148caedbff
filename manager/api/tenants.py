"""Tenant routes: `cfy tenants` (system administrators), and `ctx.tenant` of operation code."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from manager.api.deps import CurrentCaller, CurrentPrincipal, SessionDep, UnitOfWorkDep, require
from manager.api.pagination import ListSpec, parse_bool, parse_list_query, run_list
from manager.db import Tenant
from manager.schemas.common import READ, ListRead
from manager.schemas.tenants import FIELDS, TenantMember, TenantRead, tenant_read
from manager.services import tenants

router = APIRouter(prefix="/tenants", tags=["tenants"])

LIST_SPEC = ListSpec(
    columns={"name": Tenant.name, "id": Tenant.pk, "created_at": Tenant.created_at},
    fields=FIELDS,
    default_sort=("name",),
    tie_breaker=Tenant.pk,
    search_column=Tenant.name,
    extra_params=("_get_all_results",),
)


def _read(session: Session, tenant: Tenant, get_data: bool = False) -> dict[str, Any]:
    return tenant_read(tenant, tenants.members(session, tenant), get_data=get_data)


def _get_data(request: Request) -> bool:
    return parse_bool(request.query_params.get("_get_data"), "_get_data")


@router.get("", response_model=ListRead[TenantRead], **READ, dependencies=[require("tenant_list")])
def list_tenants(request: Request, session: SessionDep, caller: CurrentCaller) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    get_data = _get_data(request) and caller.is_admin
    stmt = tenants.visible_tenants(caller)
    return run_list(session, stmt, LIST_SPEC, query, lambda t: _read(session, t, get_data))


# The `/tenants/users` routes come before `/tenants/{tenant_name}` so they win the match.
@router.put("/users", response_model=TenantRead, **READ, dependencies=[require("tenant_add_user")])
def add_user(body: TenantMember, work: UnitOfWorkDep, _: CurrentPrincipal) -> dict[str, Any]:
    tenant = tenants.add_user(work.session, body.tenant_name, body.username, body.role)
    work.commit()
    return _read(work.session, tenant, True)


@router.patch(
    "/users", response_model=TenantRead, **READ, dependencies=[require("tenant_update_user")]
)
def update_user(body: TenantMember, work: UnitOfWorkDep, _: CurrentPrincipal) -> dict[str, Any]:
    tenant = tenants.update_user(work.session, body.tenant_name, body.username, body.role)
    work.commit()
    return _read(work.session, tenant, True)


@router.delete("/users", status_code=204, dependencies=[require("tenant_remove_user")])
def remove_user(body: TenantMember, work: UnitOfWorkDep, _: CurrentPrincipal) -> Response:
    tenants.remove_user(work.session, body.tenant_name, body.username)
    work.commit()
    return Response(status_code=204)


@router.get(
    "/{tenant_name}", response_model=TenantRead, **READ, dependencies=[require("tenant_get")]
)
def get_tenant(
    tenant_name: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    tenant = tenants.get(session, principal, tenant_name)
    return _read(session, tenant, _get_data(request) and principal.is_admin)


@router.post(
    "/{tenant_name}",
    status_code=201,
    response_model=TenantRead,
    **READ,
    dependencies=[require("tenant_create")],
)
def create_tenant(tenant_name: str, work: UnitOfWorkDep, _: CurrentPrincipal) -> dict[str, Any]:
    """The body (`rabbitmq_password`) is accepted and ignored: there is no RabbitMQ here."""
    tenant = tenants.create(work.session, tenant_name)
    work.commit()
    return _read(work.session, tenant)


@router.delete("/{tenant_name}", status_code=204, dependencies=[require("tenant_delete")])
def delete_tenant(tenant_name: str, work: UnitOfWorkDep, _: CurrentPrincipal) -> Response:
    tenants.delete(work.session, tenant_name)
    work.commit()
    return Response(status_code=204)
