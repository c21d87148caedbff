"""A short-lived cache of authenticated callers, so clients that poll skip the credential
checks (argon2 for HTTP Basic, three queries for a token) on their repeated requests.

Entries are keyed by an HMAC (with the settings' secret key) of the credential and the
`Tenant` header, never by the credential itself, and live a few seconds at most (never past a
token's expiry). Any commit of this process that changes users, tokens, tenants or
memberships clears the cache at once (`watch`); another process's changes are seen within
the time to live.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from manager.db import Tenant, TenantMembership, Token, User
from manager.db.base import utcnow
from manager.db.engine import watch_commits
from manager.services.identity import Principal

IDENTITY_MODELS = (User, Token, Tenant, TenantMembership)
# Written when a credential is used (see tokens.touch): no caller's rights depend on them.
_USE_COLUMNS = frozenset({"last_login_at", "last_used_at"})
_CHANGED = "caller_cache.identity_changed"


class CallerCache:
    """Principals by credential, for `ttl` seconds (0 disables the cache), thread-safe."""

    def __init__(self, secret_key: str, ttl: float, max_entries: int = 10_000) -> None:
        self._key = secret_key.encode()
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        # Bumped by every clear: a lookup that began before it must not store its result.
        self.generation = 0
        # Checks under way, by key (added and removed on the event loop): see get_or_check.
        self._checks: dict[bytes, asyncio.Future[Principal]] = {}

    def key(self, scheme: str, credential: str, tenant: str | None) -> bytes:
        message = f"{scheme}\0{tenant or ''}\0{credential}".encode()
        return hmac.new(self._key, message, "sha256").digest()

    def get(self, key: bytes) -> Principal | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] > time.monotonic():
                return entry[1]
            del self._entries[key]
            return None

    async def get_or_check(
        self, key: bytes, check: Callable[[], Awaitable[tuple[Principal, datetime | None]]]
    ) -> Principal:
        """The cached principal, else what `check()` finds (and remember it).

        Concurrent misses of one key share one check: when an entry expires, the clients
        polling with that credential would otherwise all check it at once.
        """
        if (cached := self.get(key)) is not None:
            return cached
        pending = self._checks.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._check(key, check))
            self._checks[key] = pending
            pending.add_done_callback(lambda done: self._check_done(key, done))
        return await asyncio.shield(pending)

    async def _check(
        self, key: bytes, check: Callable[[], Awaitable[tuple[Principal, datetime | None]]]
    ) -> Principal:
        generation = self.generation
        principal, valid_until = await check()
        self.put(key, principal, generation, valid_until)
        return principal

    def _check_done(self, key: bytes, done: asyncio.Future[Principal]) -> None:
        if self._checks.get(key) is done:
            self._checks.pop(key, None)  # clear() may have emptied it from another thread
        if not done.cancelled():
            done.exception()  # retrieved: a refused credential is not an unhandled error

    def put(
        self,
        key: bytes,
        principal: Principal,
        generation: int,
        valid_until: datetime | None = None,
    ) -> None:
        """Remember `principal` unless the cache was cleared since `generation` was read."""
        if self.ttl <= 0:
            return
        lifetime = self.ttl
        if valid_until is not None:
            lifetime = min(lifetime, (valid_until - utcnow()).total_seconds())
            if lifetime <= 0:
                return
        with self._lock:
            if generation != self.generation:
                return
            if key not in self._entries and len(self._entries) >= self.max_entries:
                self._evict()
            self._entries[key] = (time.monotonic() + lifetime, principal)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            # A check under way may have read what just changed: later misses start anew.
            self._checks.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _evict(self) -> None:
        now = time.monotonic()
        expired = [key for key, (until, _) in self._entries.items() if until <= now]
        for key in expired:
            del self._entries[key]
        if len(self._entries) >= self.max_entries:
            # The oldest insertion goes: dicts keep insertion order.
            del self._entries[next(iter(self._entries))]

    def watch(self, factories: list[sessionmaker[Session]]) -> None:
        """Clear the cache after each commit, by sessions of `factories`, that changed an
        identity row (a revoked token, a deleted, deactivated or re-passworded user, a
        changed role or membership); recording a credential's use does not count."""
        watch_commits(
            factories,
            _CHANGED,
            note_flush=_note_flush,
            note_statement=_note_statement,
            on_commit=lambda _: self.clear(),
        )


def _note_flush(session: Session, _context: Any) -> None:
    for instance in chain(session.new, session.deleted):
        if isinstance(instance, IDENTITY_MODELS):
            session.info[_CHANGED] = True
            return
    for instance in session.dirty:
        if isinstance(instance, IDENTITY_MODELS) and _changed_rights(instance):
            session.info[_CHANGED] = True
            return


def _changed_rights(instance: Any) -> bool:
    state = inspect(instance)
    return any(
        attribute.key not in _USE_COLUMNS and attribute.history.has_changes()
        for attribute in state.attrs
    )


def _note_statement(state: ORMExecuteState) -> None:
    """Bulk `update(User)`, `delete(Token)`... through the ORM bypass the flush."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if any(mapper.class_ in IDENTITY_MODELS for mapper in state.all_mappers):
        state.session.info[_CHANGED] = True
