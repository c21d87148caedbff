"""The user resource as `cfy users` reads it, and the bodies it sends."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from manager.db import User
from manager.schemas.common import iso

FIELDS = (
    "id",
    "username",
    "role",
    "active",
    "created_at",
    "first_login_at",
    "last_login_at",
    "is_locked",
    "show_getting_started",
    "tenants",
    "tenant_roles",
    "groups",
    "group_system_roles",
)


class UserCreate(BaseModel):
    username: str
    password: str
    role: str = "default"
    is_prehashed: bool = False


class UserUpdate(BaseModel):
    """`POST /users/{name}`: exactly one of a new password or a new system role."""

    password: str | None = None
    role: str | None = None
    show_getting_started: bool | None = None


class UserActivation(BaseModel):
    action: Literal["activate", "deactivate"]


class UserRead(BaseModel):
    """A user as `cfy users` reads it; every field is optional for `_include`."""

    id: int | None = None
    username: str | None = None
    role: str | None = None
    active: bool | None = None
    created_at: str | None = None
    first_login_at: str | None = None
    last_login_at: str | None = None
    is_locked: bool | None = None
    show_getting_started: bool | None = None
    # Counts, or with `_get_data` the tenants and roles themselves.
    tenants: int | dict[str, Any] | None = None
    tenant_roles: dict[str, Any] | None = None
    groups: int | list[Any] | None = None
    group_system_roles: dict[str, Any] | None = None


def user_read(user: User, *, get_data: bool = False) -> dict[str, Any]:
    """Counts of tenants and groups, or with `_get_data` the tenants and roles themselves."""
    roles = {m.tenant.name: m.role for m in user.memberships}
    return {
        "id": user.pk,
        "username": user.username,
        "role": user.role,
        "active": user.active,
        "created_at": iso(user.created_at),
        "first_login_at": None,
        "last_login_at": iso(user.last_login_at),
        "is_locked": False,
        "show_getting_started": False,
        "tenants": (
            {name: {"tenant-role": role, "roles": [role]} for name, role in roles.items()}
            if get_data
            else len(roles)
        ),
        "tenant_roles": {"direct": roles, "groups": {}} if get_data else None,
        "groups": [] if get_data else 0,
        "group_system_roles": {},
    }
