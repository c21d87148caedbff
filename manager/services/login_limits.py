"""Limits on failed password checks, per user name and per client address.

Each failure counts against both the user name it named (existing or not, so a refusal tells
nothing about which accounts exist) and the address it came from, in fixed windows: the first
failure opens a window of QD_LOGIN_FAILURE_WINDOW_SECONDS, and once a name or an address has
used up its failures, every password check for it is refused (429, with Retry-After) until
that window ends, without looking at the password, so a guess made while refused learns
nothing. Nothing else resets a count: a success would let a guesser who owns one account
clear its address's count, and a victim's own logins would clear the guesser's.

The counts live in the database so that they hold across API processes and replicas. Only a
real password check reads them (a credential the caller cache knows is never checked), and
only a failure writes.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from manager.db import LoginFailure
from manager.db.base import utcnow
from manager.errors import TooManyRequests
from manager.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginLimits:
    per_user: int
    per_address: int
    window: timedelta

    @classmethod
    def of(cls, settings: Settings) -> LoginLimits:
        return cls(
            settings.login_failures_per_user,
            settings.login_failures_per_address,
            timedelta(seconds=settings.login_failure_window_seconds),
        )

    def counted(self, username: str, address: str) -> list[tuple[str, int, str]]:
        """(row key, allowed failures, what to call it) of each limit in force."""
        keys = []
        if self.per_user:
            keys.append((_key("user", username), self.per_user, "this user name"))
        if self.per_address:
            keys.append((_key("address", address), self.per_address, f"address {address}"))
        return keys


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()}"


def refuse_if_locked(
    session: Session, limits: LoginLimits, username: str, address: str, now: datetime | None = None
) -> None:
    """TooManyRequests when the user name or the address has no failures left."""
    counted = limits.counted(username, address)
    if not counted:
        return
    now = now or utcnow()
    rows = session.execute(
        select(LoginFailure.key, LoginFailure.window_started_at, LoginFailure.failures).where(
            LoginFailure.key.in_([key for key, _, _ in counted])
        )
    ).all()
    found = {key: (started, failures) for key, started, failures in rows}
    for key, allowed, what in counted:
        started, failures = found.get(key, (None, 0))
        if started is None or failures < allowed:
            continue
        ends = started + limits.window
        if ends > now:
            retry_after = max(1, math.ceil((ends - now).total_seconds()))
            raise TooManyRequests(
                f"Too many failed logins for {what}: {failures} within "
                f"{limits.window.total_seconds():g} seconds. Try again in {retry_after} seconds",
                retry_after,
            )


def record_failure(
    session: Session, limits: LoginLimits, username: str, address: str, now: datetime | None = None
) -> None:
    """Count one failed check against the user name and the address, in one statement each
    (an upsert, so concurrent failures in other processes are all counted)."""
    now = now or utcnow()
    window_start = now - limits.window
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for key, _, _ in limits.counted(username, address):
        stmt = insert(LoginFailure).values(key=key, window_started_at=now, failures=1)
        expired = LoginFailure.window_started_at <= window_start
        stmt = stmt.on_conflict_do_update(
            index_elements=[LoginFailure.key],
            set_={
                "failures": case((expired, 1), else_=LoginFailure.failures + 1),
                "window_started_at": case(
                    (expired, stmt.excluded.window_started_at), else_=LoginFailure.window_started_at
                ),
            },
        )
        session.execute(stmt)
    # Ended windows count for nothing: keep the table as small as the attacks under way.
    session.execute(delete(LoginFailure).where(LoginFailure.window_started_at <= window_start))
