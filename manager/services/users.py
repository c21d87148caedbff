"""User administration: create, change password or system role, (de)activate, delete."""

from __future__ import annotations

import logging

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from manager.db import User
from manager.errors import BadParameters, IllegalAction, NotFound
from manager.schemas.users import UserCreate, UserUpdate
from manager.security import hash_password
from manager.services.identity import SYSTEM_ROLES, Principal, create_user
from manager.uploads import check_id

# Passwords are never logged; names and roles are.
log = logging.getLogger(__name__)


def listed() -> Select[tuple[User]]:
    """Every user (`cfy users list` is a system administrator's)."""
    return select(User)


def get(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound.of("User", username)
    return user


def create(session: Session, body: UserCreate) -> User:
    """A user with a system role and no tenant yet (`cfy users create` adds one after)."""
    check_id("user", body.username)
    if body.is_prehashed:
        raise BadParameters("Creating a user from a password hash is not supported")
    user = create_user(
        session, body.username, body.password, system_role=body.role, tenant_name=None
    )
    log.info("user `%s` created with role `%s`", user.username, user.role)
    return user


def update(session: Session, principal: Principal, username: str, body: UserUpdate) -> User:
    user = get(session, username)
    if body.password and body.role:
        raise BadParameters("Both `password` and `role` provided")
    if body.password:
        user.password_hash = hash_password(body.password)
        log.info("password of user `%s` changed", username)
    elif body.role:
        _set_role(session, principal, user, body.role)
    elif body.show_getting_started is None:
        raise BadParameters("Neither `password` nor `role` provided")
    session.flush()
    return user


def _set_role(session: Session, principal: Principal, user: User, role: str) -> None:
    if role not in SYSTEM_ROLES:
        raise BadParameters(f"Unknown system role `{role}`; use one of {', '.join(SYSTEM_ROLES)}")
    if user.role == "sys_admin" and role != "sys_admin":
        _keep_an_admin(session, user, "lose the sys_admin role")
    user.role = role
    log.info("user `%s` given system role `%s` by `%s`", user.username, role, principal.username)


def set_active(session: Session, principal: Principal, username: str, active: bool) -> User:
    user = get(session, username)
    if not active:
        if user.pk == principal.user_pk:
            raise IllegalAction("Users cannot deactivate themselves")
        if user.role == "sys_admin":
            _keep_an_admin(session, user, "be deactivated")
    user.active = active
    session.flush()
    return user


def delete(session: Session, principal: Principal, username: str) -> None:
    """Resources the user created stay, with no creator; their API tokens go with them."""
    user = get(session, username)
    if user.pk == principal.user_pk:
        raise IllegalAction("Users cannot delete themselves")
    if user.role == "sys_admin":
        _keep_an_admin(session, user, "be deleted")
    session.delete(user)
    session.flush()
    log.info("user `%s` deleted by `%s`", username, principal.username)


def _keep_an_admin(session: Session, user: User, what: str) -> None:
    """Refuse to leave the manager without an active system administrator."""
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == "sys_admin", User.active.is_(True), User.pk != user.pk)
    )
    if not others:
        raise IllegalAction(
            f"User `{user.username}` is the last active sys_admin and cannot {what}"
        )
