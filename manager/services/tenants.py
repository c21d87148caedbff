"""Tenants and their members: create, delete, add, change the role of, and remove users."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session, selectinload

from manager.db import Blueprint, Deployment, Plugin, Secret, Tenant, TenantMembership
from manager.errors import BadParameters, Conflict, DependentExists, Forbidden, NotFound
from manager.permissions import PERMISSIONS, TENANT_ROLES
from manager.services import users
from manager.services.identity import DEFAULT_TENANT, Principal, get_or_create_tenant
from manager.uploads import check_id

log = logging.getLogger(__name__)

# These names would collide with the `/tenants/users` and `/tenants/user-groups` routes.
RESERVED_NAMES = ("users", "user-groups")
DEFAULT_TENANT_ROLE = "user"


def visible_tenants(principal: Principal) -> Select[Any]:
    """Every tenant for a system administrator; the tenants one is a member of otherwise."""
    stmt = select(Tenant)
    if principal.scope is not None:
        return stmt.where(Tenant.pk == principal.tenant_pk)
    if principal.is_admin:
        return stmt
    member = exists().where(
        TenantMembership.tenant_pk == Tenant.pk, TenantMembership.user_pk == principal.user_pk
    )
    return stmt.where(member)


def members(session: Session, tenant: Tenant) -> list[TenantMembership]:
    stmt = (
        select(TenantMembership)
        .where(TenantMembership.tenant_pk == tenant.pk)
        .options(selectinload(TenantMembership.user))
        .order_by(TenantMembership.pk)
    )
    return list(session.scalars(stmt))


def _tenant(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise NotFound.of("Tenant", name)
    return tenant


def get(session: Session, principal: Principal, name: str) -> Tenant:
    """A tenant the caller may read; one it is not a member of does not exist for it."""
    tenant = session.scalar(visible_tenants(principal).where(Tenant.name == name))
    if tenant is None:
        raise NotFound.of("Tenant", name)
    if not principal.is_admin:
        role = session.scalar(
            select(TenantMembership.role).where(
                TenantMembership.tenant_pk == tenant.pk,
                TenantMembership.user_pk == principal.user_pk,
            )
        )
        if role not in PERMISSIONS["tenant_get"]:
            raise Forbidden(
                f"User `{principal.username}` with role `{role}` is not permitted to read "
                f"tenant `{name}`"
            )
    return tenant


def create(session: Session, name: str) -> Tenant:
    check_id("tenant", name)
    if name in RESERVED_NAMES:
        raise BadParameters(f"`{name}` is not allowed as a tenant name")
    if session.scalar(select(Tenant.pk).where(Tenant.name == name)) is not None:
        raise Conflict(f"Tenant `{name}` already exists")
    tenant = get_or_create_tenant(session, name)
    log.info("tenant `%s` created", name)
    return tenant


def delete(session: Session, name: str) -> None:
    """Only an empty tenant goes: its resources must be deleted first, deliberately."""
    if name == DEFAULT_TENANT:
        raise BadParameters(f"The `{DEFAULT_TENANT}` tenant cannot be deleted")
    tenant = _tenant(session, name)
    for model, kind in (
        (Deployment, "deployments"),
        (Blueprint, "blueprints"),
        (Plugin, "plugins"),
        (Secret, "secrets"),
    ):
        if session.scalar(select(exists().where(model.tenant_pk == tenant.pk))):
            raise DependentExists(f"Cannot delete tenant `{name}`: it still has {kind}")
    session.delete(tenant)
    session.flush()
    log.info("tenant `%s` deleted", name)


def _role(role: str | None) -> str:
    role = role or DEFAULT_TENANT_ROLE
    if role not in TENANT_ROLES:
        raise BadParameters(f"Unknown tenant role `{role}`; use one of {', '.join(TENANT_ROLES)}")
    return role


def _membership(session: Session, tenant: Tenant, username: str) -> TenantMembership | None:
    user = users.get(session, username)
    return session.scalar(
        select(TenantMembership).where(
            TenantMembership.tenant_pk == tenant.pk, TenantMembership.user_pk == user.pk
        )
    )


def add_user(session: Session, tenant_name: str, username: str, role: str | None) -> Tenant:
    tenant = _tenant(session, tenant_name)
    role = _role(role)
    if _membership(session, tenant, username) is not None:
        raise Conflict(f"User `{username}` is already a member of tenant `{tenant_name}`")
    user = users.get(session, username)
    session.add(TenantMembership(user_pk=user.pk, tenant_pk=tenant.pk, role=role))
    session.flush()
    session.expire(user, ["memberships"])
    log.info("user `%s` added to tenant `%s` as `%s`", username, tenant_name, role)
    return tenant


def update_user(session: Session, tenant_name: str, username: str, role: str | None) -> Tenant:
    tenant = _tenant(session, tenant_name)
    if role is None:
        raise BadParameters("`role` is required to change a user's role in a tenant")
    membership = _membership(session, tenant, username)
    if membership is None:
        raise NotFound(f"User `{username}` is not a member of tenant `{tenant_name}`: not found")
    membership.role = _role(role)
    session.flush()
    log.info("user `%s` now `%s` in tenant `%s`", username, membership.role, tenant_name)
    return tenant


def remove_user(session: Session, tenant_name: str, username: str) -> None:
    tenant = _tenant(session, tenant_name)
    membership = _membership(session, tenant, username)
    if membership is None:
        raise NotFound(f"User `{username}` is not a member of tenant `{tenant_name}`: not found")
    session.delete(membership)
    session.flush()
    log.info("user `%s` removed from tenant `%s`", username, tenant_name)
