"""Request dependencies: settings, the database session, the caller and the permission check.

A caller authenticates with one of (checked in this order) `Execution-Token`,
`Authentication-Token` or HTTP Basic, and acts in the tenant the `Tenant` header names
(default `default_tenant`; an execution token's own tenant). Checked API tokens and Basic
logins are remembered a few seconds (manager.api.caller_cache); failed password checks are
limited per user name and client address (manager.services.login_limits). Routes declare what they
need with `dependencies=[require("permission")]`; see manager.permissions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from manager import permissions
from manager.api.caller_cache import CallerCache
from manager.db import User
from manager.db.engine import Database
from manager.errors import Unauthorized
from manager.security import VerifiedPasswords
from manager.services import identity, login_limits, tokens
from manager.services.identity import Principal
from manager.services.login_limits import LoginLimits
from manager.settings import Settings
from manager.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    session = get_database(request).session(write=not _is_read(request))
    try:
        yield session
    finally:
        session.close()


# Threads for polled reads (run_read); more than the cores would only contend for the GIL.
READ_THREADS = 4


async def run_read(request: Request, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in one of READ_THREADS threads of its own: reads that clients poll
    queue there instead of taking the threads every other route needs."""
    limiter: CapacityLimiter = request.app.state.read_threads
    return await to_thread.run_sync(function, *args, limiter=limiter)


def get_unit_of_work(
    request: Request, session: Annotated[Session, Depends(get_session)]
) -> UnitOfWork:
    """The request's unit of work: its session, and the outbox published once the route
    commits (`work.commit()`); a route that raises never publishes what it queued."""
    return UnitOfWork(session, request.app.state.broker)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]


async def get_caller(request: Request) -> Principal:
    """The authenticated caller in the header's tenant, member of it or not (role None).

    Async, and without the request's session: a caller the cache knows costs no thread and
    no query (what polling clients send again and again); others are checked in a thread.
    """
    scheme, value = _credential(request.headers)
    tenant = request.headers.get("tenant")
    callers: CallerCache = request.app.state.callers
    database = get_database(request)

    async def check() -> tuple[Principal, datetime | None]:
        login = _Login(
            LoginLimits.of(get_settings(request)),
            _address(request),
            request.app.state.verified_passwords,
        )
        return await run_in_threadpool(_authenticate, database, scheme, value, tenant, login)

    key = _cache_key(callers, scheme, value, tenant, request)
    if key is None:
        return (await check())[0]
    return await callers.get_or_check(key, check)


def cached_caller(request: Request) -> Principal | None:
    """The caller if the cache knows its credential (see get_caller), else None."""
    try:
        scheme, value = _credential(request.headers)
    except Unauthorized:
        return None
    callers: CallerCache = request.app.state.callers
    key = _cache_key(callers, scheme, value, request.headers.get("tenant"), request)
    return callers.get(key) if key is not None else None


def _cache_key(
    callers: CallerCache, scheme: str, value: str, tenant: str | None, request: Request
) -> bytes | None:
    # Execution tokens are not cached: they die with their execution, in any process.
    if scheme == "execution":
        return None
    # A password is remembered for the address that sent it only: from anywhere else it is
    # checked, and so counted by the login limits (else, while a user name is held, a
    # guesser's right guess would be let in by the owner's cache entry).
    if scheme == "basic":
        value = f"{_address(request)}\0{value}"
    return callers.key(scheme, value, tenant)


def _credential(headers: Headers) -> tuple[str, str]:
    """(scheme, value) of the first credential the request sends, in the documented order."""
    if value := headers.get("execution-token"):
        return "execution", value
    if value := headers.get("authentication-token"):
        return "token", value
    if (value := headers.get("authorization", "")) and value[:6].lower() == "basic ":
        return "basic", value
    raise Unauthorized("No authentication info provided")


@dataclass(frozen=True)
class _Login:
    """What a password check needs besides the credential: the limits and who is asking."""

    limits: LoginLimits
    address: str
    verified: VerifiedPasswords


def _address(request: Request) -> str:
    # The TCP peer, or what a proxy uvicorn trusts (FORWARDED_ALLOW_IPS) says it forwards for.
    return request.client.host if request.client is not None else "unknown"


def _authenticate(
    database: Database, scheme: str, value: str, tenant: str | None, login: _Login
) -> tuple[Principal, datetime | None]:
    """The caller, checked against the database, and until when its credential is valid."""
    with database.session(write=False) as session:
        if scheme == "execution":
            return tokens.authenticate_execution(session, value, tenant), None
        token_pk, valid_until = None, None
        if scheme == "token":
            user, token = tokens.authenticate(session, value)
            token_pk, last_use, valid_until = token.pk, token.last_used_at, token.expires_at
        else:
            user = _check_password(database, session, value, login)
            last_use = user.last_login_at
        principal = identity.act_in_tenant(
            session, user, tenant or identity.DEFAULT_TENANT, member_only=False
        )
    if tokens.stale(last_use):
        _record_use(database, principal.user_pk, token_pk)
    return principal, valid_until


def _check_password(database: Database, session: Session, value: str, login: _Login) -> User:
    """The user a Basic credential names, if the password is right and the user name and the
    address have failures left (manager.services.login_limits); a failure is counted."""
    username, password = identity.parse_basic(value)
    login_limits.refuse_if_locked(session, login.limits, username, login.address)
    try:
        return identity.authenticate_password(session, username, password, login.verified)
    except Unauthorized:
        _record_failure(database, login, username)
        raise


def _record_failure(database: Database, login: _Login, username: str) -> None:
    """In a transaction of its own, like _record_use; a failure to count is logged, and the
    caller still gets its 401."""
    try:
        with database.transaction() as session:
            login_limits.record_failure(session, login.limits, username, login.address)
    except SQLAlchemyError:
        log.warning("could not count a failed login from %s", login.address)


def _record_use(database: Database, user_pk: int, token_pk: int | None) -> None:
    """A login's and a token's last use, in a transaction of its own (the lookup's session
    is read-only) and before the request's (which, on SQLite, may hold the write lock)."""
    try:
        with database.transaction() as session:
            tokens.touch(session, user_pk, token_pk)
    except SQLAlchemyError:
        log.warning("could not record the last use of user %s's credentials", user_pk)


CurrentCaller = Annotated[Principal, Depends(get_caller)]


async def get_principal(caller: CurrentCaller) -> Principal:
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

    async def check_permission(caller: CurrentCaller) -> None:
        permissions.authorize(caller, permission)

    check_permission.permission = permission  # type: ignore[attr-defined]
    return Depends(check_permission)
