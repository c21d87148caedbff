"""Who is calling: users, tenants, credentials, and the first-start bootstrap."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Tenant, TenantMembership, User
from manager.errors import BadParameters, Conflict, Forbidden, Unauthorized
from manager.permissions import TENANT_ROLES
from manager.security import VerifiedPasswords, hash_password, verify_password

DEFAULT_TENANT = "default_tenant"
SYSTEM_ROLES = ("sys_admin", "default")


@dataclass(frozen=True)
class ExecutionScope:
    """Marks a caller that authenticated with an `Execution-Token`: the execution's creator,
    confined to the execution's tenant (manager.permissions.EXECUTION_TOKEN_REFUSED)."""

    execution_id: str


@dataclass(frozen=True)
class Principal:
    """An authenticated caller acting in one tenant."""

    user_pk: int
    username: str
    system_role: str
    tenant_pk: int
    tenant_name: str
    # The caller's role in this tenant (sys_admin for system administrators); None when
    # the caller is not a member, which only tenantless permissions accept.
    role: str | None
    # Set when the caller authenticated with an execution token.
    scope: ExecutionScope | None = None

    @property
    def is_admin(self) -> bool:
        return self.system_role == "sys_admin"

    @property
    def spans_tenants(self) -> bool:
        """A system administrator reaches every tenant, except through an execution token,
        which stays in its execution's tenant."""
        return self.is_admin and self.scope is None


def parse_basic(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1], validate=True).decode()
        username, password = decoded.split(":", 1)
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        raise Unauthorized("Malformed Authorization header") from None
    return username, password


def authenticate_password(
    session: Session, username: str, password: str, verified: VerifiedPasswords | None = None
) -> User:
    """The user, if the password is right; `verified` remembers recent successful checks."""
    user = session.scalar(select(User).where(User.username == username))
    check = verified.verify if verified is not None else verify_password
    # Same message whether the user or the password is wrong: no account probing.
    if user is None or not user.active or not check(user.password_hash, password):
        raise Unauthorized("User unauthorized: wrong username or password")
    return user


def act_in_tenant(
    session: Session, user: User, tenant_name: str, *, member_only: bool = True
) -> Principal:
    """The user acting in `tenant_name`; an unknown tenant is always 403.

    With `member_only=False` a non-member gets a principal without a role, which only
    tenantless permissions (their own tokens, their own user) accept.
    """
    tenant = session.scalar(select(Tenant).where(Tenant.name == tenant_name))
    if tenant is None:
        raise Forbidden(
            f"Authorization failed: Tried to authenticate with invalid tenant name: {tenant_name}"
        )
    role: str | None
    if user.role == "sys_admin":
        role = "sys_admin"
    else:
        membership = next((m for m in user.memberships if m.tenant_pk == tenant.pk), None)
        if membership is None and member_only:
            raise Forbidden(
                f"Authorization failed: User `{user.username}` is not a member of tenant "
                f"`{tenant_name}`"
            )
        role = membership.role if membership is not None else None
    return Principal(user.pk, user.username, user.role, tenant.pk, tenant.name, role)


def get_or_create_tenant(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.flush()
    return tenant


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    system_role: str = "default",
    tenant_name: str | None = DEFAULT_TENANT,
    tenant_role: str = "user",
) -> User:
    if not username or not password:
        raise BadParameters("A user needs a non-empty username and password")
    if system_role not in SYSTEM_ROLES:
        raise BadParameters(f"Unknown system role `{system_role}`; use one of {SYSTEM_ROLES}")
    if tenant_role not in TENANT_ROLES:
        raise BadParameters(f"Unknown tenant role `{tenant_role}`; use one of {TENANT_ROLES}")
    if session.scalar(select(User.pk).where(User.username == username)) is not None:
        raise Conflict(f"User `{username}` already exists")
    user = User(username=username, password_hash=hash_password(password), role=system_role)
    if tenant_name:
        tenant = get_or_create_tenant(session, tenant_name)
        user.memberships.append(TenantMembership(tenant_pk=tenant.pk, role=tenant_role))
    session.add(user)
    session.flush()
    return user


def bootstrap(session: Session, admin_username: str, admin_password: str) -> bool:
    """Create the default tenant and the admin user when missing; True if the admin was new.

    An existing admin keeps its password: changing a setting must not silently reset it.
    """
    get_or_create_tenant(session, DEFAULT_TENANT)
    if session.scalar(select(User.pk).where(User.username == admin_username)) is not None:
        return False
    create_user(
        session,
        admin_username,
        admin_password,
        system_role="sys_admin",
        tenant_name=DEFAULT_TENANT,
        tenant_role="manager",
    )
    return True
