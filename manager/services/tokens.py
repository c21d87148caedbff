"""API tokens (`Authentication-Token`) and execution tokens (`Execution-Token`).

Both are shown once and stored only as a SHA-256: a database dump gives no credentials.
API tokens look like Cloudify 7's, `ctok-<id>-<secret>`, so the id finds the row and the
secret is compared with the stored hash.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ScalarSelect, Select, exists, select
from sqlalchemy.orm import Session

from manager.db import Execution, Operation, Token, User
from manager.db.base import utcnow
from manager.errors import BadParameters, Forbidden, NotFound, Unauthorized
from manager.orchestration.executions import ACTIVE_STATES, CANCELLED
from manager.security import sha256_hex
from manager.services.identity import ExecutionScope, Principal, act_in_tenant

PREFIX = "ctok"
# A token's last use (and its user's last login) is written at most this often, so
# authenticating stays a read on almost every request.
TOUCH_INTERVAL = timedelta(seconds=60)

_UNITS = {
    "min": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "mo": timedelta(days=30),
    "y": timedelta(days=365),
}
_UNIT_WORDS = {
    "m": "min",
    "mins": "min",
    "minute": "min",
    "minutes": "min",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
    "week": "w",
    "weeks": "w",
    "month": "mo",
    "months": "mo",
    "year": "y",
    "years": "y",
}
_DELTA = re.compile(r"\+\s*(\d+)\s*([a-z]+)\s*")


def owner_name() -> ScalarSelect[str]:
    """The name of a token's user, as a column tokens can be sorted and filtered by."""
    return select(User.username).where(User.pk == Token.user_pk).scalar_subquery()


def parse_expiration(text: str, now: datetime | None = None) -> datetime:
    """`cfy tokens create --expiry` forms: ISO 8601, `YYYY-MM-DD HH:MM`, or `+10h+30min`."""
    text = text.strip()
    now = now or utcnow()
    if text.startswith("+"):
        position, moment = 0, now.replace(second=0, microsecond=0)
        for match in _DELTA.finditer(text):
            if match.start() != position:
                break
            unit = _UNIT_WORDS.get(match[2], match[2])
            if unit not in _UNITS:
                raise BadParameters(f"`{text}` is not a valid time delta (unknown unit)")
            moment += int(match[1]) * _UNITS[unit]
            position = match.end()
        if position != len(text):
            raise BadParameters(f"`{text}` is not a valid time delta, e.g. `+10h` or `+1 day`")
        return moment
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadParameters(
            f"`{text}` is not a valid expiration date: use `YYYY-MM-DD HH:MM` or `+10h`"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def create(
    session: Session, user_pk: int, description: str | None, expiration: str | None
) -> tuple[Token, str]:
    """A new token of the user and its value, which is never available again."""
    expires_at = parse_expiration(expiration) if expiration else None
    if expires_at is not None and expires_at <= utcnow():
        raise BadParameters("The expiration date of a token must be in the future")
    token_id = secrets.token_hex(5)
    secret = secrets.token_urlsafe(32)
    token = Token(
        id=token_id,
        secret_hash=sha256_hex(secret),
        user_pk=user_pk,
        description=description,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, f"{PREFIX}-{token_id}-{secret}"


def authenticate(session: Session, value: str) -> tuple[User, Token]:
    parts = value.split("-", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise Unauthorized("Invalid authentication token")
    token = session.scalar(select(Token).where(Token.id == parts[1]))
    if token is None or not hmac.compare_digest(token.secret_hash, sha256_hex(parts[2])):
        raise Unauthorized("Invalid authentication token")
    user = token.user
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise Unauthorized("The authentication token has expired")
    if not user.active:
        raise Unauthorized("The user of this authentication token is deactivated")
    return user, token


def stale(moment: datetime | None) -> bool:
    return moment is None or utcnow() - moment > TOUCH_INTERVAL


def touch(session: Session, user_pk: int, token_pk: int | None) -> None:
    """Record a use: the user's last login and the token's last use."""
    now = utcnow()
    user = session.get(User, user_pk)
    if user is not None:
        user.last_login_at = now
    if token_pk is not None and (token := session.get(Token, token_pk)) is not None:
        token.last_used_at = now
    session.flush()


def visible_tokens(principal: Principal) -> Select[Any]:
    """Tokens the caller may see: their own; every token for a system administrator."""
    stmt = select(Token)
    return stmt if principal.is_admin else stmt.where(Token.user_pk == principal.user_pk)


def get(session: Session, principal: Principal, token_id: str) -> Token:
    token = session.scalar(visible_tokens(principal).where(Token.id == token_id))
    if token is None:
        raise NotFound.of("Token", token_id)
    return token


def delete(session: Session, principal: Principal, token_id: str) -> None:
    session.delete(get(session, principal, token_id))
    session.flush()


def execution_token_for(session: Session, execution: Execution) -> str:
    """Mint the token operation and workflow code of `execution` authenticate with.

    Only its SHA-256 is kept (on the execution); calling again replaces the token.
    """
    value = secrets.token_urlsafe(32)
    execution.token_hash = sha256_hex(value)
    session.flush()
    return value


def _live(session: Session, execution: Execution) -> bool:
    """A token works while its execution runs, and while a cancelled one still has
    operations running (they report their results with it)."""
    if execution.status in ACTIVE_STATES:
        return True
    if execution.status != CANCELLED:
        return False
    running = exists().where(Operation.execution_id == execution.id, Operation.state == "running")
    return bool(session.scalar(select(running)))


def authenticate_execution(session: Session, value: str, tenant_name: str | None) -> Principal:
    """The execution's creator acting with its role in the execution's tenant, and there only."""
    execution = session.scalar(select(Execution).where(Execution.token_hash == sha256_hex(value)))
    if execution is None or not _live(session, execution):
        raise Unauthorized("Invalid execution token")
    if tenant_name and tenant_name != execution.tenant.name:
        raise Forbidden(
            f"Authorization failed: an execution token of tenant `{execution.tenant.name}` "
            f"cannot act in tenant `{tenant_name}`"
        )
    creator = execution.creator
    if creator is None or not creator.active:
        raise Unauthorized("Invalid execution token: its creator no longer exists or is inactive")
    principal = act_in_tenant(session, creator, execution.tenant.name)
    return replace(principal, scope=ExecutionScope(execution.id))
