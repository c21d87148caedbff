"""The tenant resource as `cfy tenants` and `ctx.tenant` read it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from manager.db import Tenant, TenantMembership
from manager.schemas.common import iso

FIELDS = (
    "id",
    "name",
    "created_at",
    "users",
    "groups",
    "user_roles",
    "rabbitmq_username",
    "rabbitmq_password",
    "rabbitmq_vhost",
)


class TenantMember(BaseModel):
    """`PUT/PATCH/DELETE /tenants/users`: who joins, changes role in, or leaves a tenant."""

    tenant_name: str
    username: str
    # Cloudify's default tenant role when none is given.
    role: str | None = None


class TenantRead(BaseModel):
    """A tenant as `cfy tenants` reads it; every field is optional for `_include`."""

    id: int | None = None
    name: str | None = None
    created_at: str | None = None
    # Counts, or with `_get_data` the members and their roles.
    users: int | dict[str, Any] | None = None
    groups: int | dict[str, Any] | None = None
    user_roles: dict[str, Any] | None = None
    rabbitmq_username: str | None = None
    rabbitmq_password: str | None = None
    rabbitmq_vhost: str | None = None


def tenant_read(
    tenant: Tenant, members: list[TenantMembership], *, get_data: bool = False
) -> dict[str, Any]:
    """Counts of users and groups, or with `_get_data` the users and their roles."""
    roles = {m.user.username: m.role for m in members}
    return {
        "id": tenant.pk,
        "name": tenant.name,
        "created_at": iso(tenant.created_at),
        "users": (
            {name: {"tenant-role": role, "roles": [role]} for name, role in roles.items()}
            if get_data
            else len(roles)
        ),
        "groups": {} if get_data else 0,
        "user_roles": {"direct": roles, "groups": {}} if get_data else None,
        # Quarterdeck has no RabbitMQ; the keys exist because the client exposes them.
        "rabbitmq_username": None,
        "rabbitmq_password": None,
        "rabbitmq_vhost": None,
    }
