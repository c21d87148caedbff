"""Request dependencies: settings, the database session, the caller and the permission check.

A caller authenticates with one of (checked in this order) `Execution-Token`,
`Authentication-Token` or HTTP Basic, and acts in the tenant the `Tenant` header names
(default `default_tenant`; an execution token's own tenant). Routes declare what they
need with `dependencies=[require("permission")]`; see manager.permissions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from manager import permissions
from manager.db.engine import Database
from manager.errors import Unauthorized
from manager.services import identity, tokens
from manager.services.identity import Principal
from manager.settings import Settings

log = logging.getLogger(__name__)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def _is_read(request: Request) -> bool:
    return request.method in ("GET", "HEAD")


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; reads take no write lock. Routes commit what they change."""
    database = get_database(request)
    session = database.session(write=not _is_read(request))
    try:
        yield session
    finally:
        session.close()
        if (use := getattr(request.state, "record_use", None)) is not None:
            _record_use(database, *use)


def _record_use(database: Database, user_pk: int, token_pk: int | None) -> None:
    """A login's and a token's last use, in a transaction of its own after the request's:
    the request's session may be read-only, or (SQLite) hold the write lock this would wait
    for, and (PostgreSQL) the user's row must not stay locked for a whole request."""
    try:
        with database.transaction() as session:
            tokens.touch(session, user_pk, token_pk)
    except SQLAlchemyError:
        log.warning("could not record the last use of user %s's credentials", user_pk)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_caller(request: Request, session: SessionDep) -> Principal:
    """The authenticated caller in the header's tenant, member of it or not (role None)."""
    headers = request.headers
    tenant = headers.get("tenant")
    if execution_token := headers.get("execution-token"):
        return tokens.authenticate_execution(session, execution_token, tenant)
    token_pk = None
    if api_token := headers.get("authentication-token"):
        user, token = tokens.authenticate(session, api_token)
        token_pk, last_use = token.pk, token.last_used_at
    elif (authorization := headers.get("authorization")) and authorization[:6].lower() == "basic ":
        username, password = identity.parse_basic(authorization)
        user = identity.authenticate_password(session, username, password)
        last_use = user.last_login_at
    else:
        raise Unauthorized("No authentication info provided")
    principal = identity.act_in_tenant(
        session, user, tenant or identity.DEFAULT_TENANT, member_only=False
    )
    if tokens.stale(last_use):
        # Recorded once the request's session is closed (see get_session).
        request.state.record_use = (user.pk, token_pk)
    return principal


CurrentCaller = Annotated[Principal, Depends(get_caller)]


def get_principal(caller: CurrentCaller) -> Principal:
    """The caller, who must be a member of the header's tenant (or a system administrator)."""
    permissions.check_member(caller)
    return caller


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require(permission: str) -> Any:
    """A route dependency: 403 unless the caller holds `permission` in its tenant.

    Declared on the route, e.g. `@router.get("", dependencies=[require("blueprint_list")])`;
    the permission name is kept on the dependency so the matrix test can read it.
    """
    permissions.check_known(permission)

    def check_permission(caller: CurrentCaller) -> None:
        permissions.authorize(caller, permission)

    check_permission.permission = permission  # type: ignore[attr-defined]
    return Depends(check_permission)
