"""Recent reads of executions, for the clients that poll them (manager.api.polling).

A dashboard, or a hundred, polling an execution many times a second would each cost a read
of the database in a thread, and under load the hop to that thread and back is most of an
answer's time. Instead the last read of each execution is kept here and polls are answered
from it on the event loop, without waiting for anything:

- A change this process commits to an execution's row through the ORM (its status, error,
  end...) drops the execution's reads at once, so a client that changed an execution
  reads its change next, and so does everyone after it.
- New events (which is also how progress moves: `finished_operations`) make a read stale,
  whichever API process stored them (manager.live_events tells every process). So does
  age, after `ttl` seconds, for what no event announces (another process's change).
- A stale read is still answered, once, while one read of the database replaces it in the
  background: an answer is at most one read behind what was committed when it was asked.
- A read older than `max_age` is never answered (say the database is away): the poll goes
  to the route, which reads the database itself and reports what fails.

Reads are kept per execution and per caller's visibility (tenant, user, administrator or
not), the inputs of `get_light`'s query, so a caller never gets a read it could not make.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from manager.db import Execution
from manager.db.engine import watch_commits
from wire import json_codec

# (execution id, tenant pk, user pk, is administrator): who may see what get_light reads.
Key = tuple[str, int, int, bool]
# An execution's answer (execution_read), or None when the caller cannot see it.
Loader = Callable[[], Awaitable[dict[str, Any] | None]]

# Columns that only move progress: a change to them makes reads stale, not wrong.
_PROGRESS = frozenset({"event_seq", "finished_operations"})
_CHANGED = "execution_reads.changed"
_ALL = "*"


@dataclass
class _Read:
    answer: dict[str, Any]
    body: bytes  # the answer's JSON, for polls without `_include`
    at: float  # time.monotonic() of the read
    stale: bool = False


class ExecutionReads:
    """The latest read of each polled execution; see the module's description."""

    def __init__(self, ttl: float = 1.0, max_age: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_age = max_age
        self.max_entries = max_entries
        self._reads: dict[Key, _Read] = {}
        # The keys of each execution's reads and loads, to find them when it changes.
        self._keys: dict[str, set[Key]] = {}
        # Reads of the database under way, by key (one at a time per key). One that an
        # invalidation removed from here still answers who waits for it, but is not kept.
        self._loading: dict[Key, asyncio.Future[_Read | None]] = {}
        self._lock = threading.Lock()

    async def get(self, key: Key, load: Loader) -> _Read | None:
        """A read of `key` to answer with (None: the execution is not visible, or the
        read failed; the route then answers)."""
        now = time.monotonic()
        with self._lock:
            read = self._reads.get(key)
        if read is not None and now - read.at < self.max_age:
            if read.stale or now - read.at >= self.ttl:
                self._start_load(key, load)  # answered from this read meanwhile
            return read
        try:
            return await asyncio.shield(self._start_load(key, load))
        except Exception:
            return None

    def _start_load(self, key: Key, load: Loader) -> asyncio.Future[_Read | None]:
        with self._lock:
            pending = self._loading.get(key)
            if pending is None:
                pending = asyncio.ensure_future(self._load(load))
                self._loading[key] = pending
                self._keys.setdefault(key[0], set()).add(key)
                pending.add_done_callback(lambda done: self._loaded(key, done))
            return pending

    async def _load(self, load: Loader) -> _Read | None:
        at = time.monotonic()
        answer = await load()
        if answer is None:
            return None
        return _Read(answer, json_codec.dumps_bytes(answer), at)

    def _loaded(self, key: Key, done: asyncio.Future[_Read | None]) -> None:
        failed = done.cancelled() or done.exception() is not None  # (retrieved, not logged)
        with self._lock:
            if self._loading.get(key) is not done:
                return  # invalidated while it read: what it read is not kept
            del self._loading[key]
            read = None if failed else done.result()
            if read is None:
                if not failed:
                    self._reads.pop(key, None)  # not visible (any more)
                self._unindex(key)
                return
            if key not in self._reads and len(self._reads) >= self.max_entries:
                oldest = next(iter(self._reads))  # (dicts keep insertion order)
                del self._reads[oldest]
                self._unindex(oldest)
            self._reads[key] = read

    def _unindex(self, key: Key) -> None:
        if key in self._reads or key in self._loading:
            return
        keys = self._keys.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys[key[0]]

    def stale(self, execution_ids: set[str]) -> None:
        """New events or progress: answer these executions' reads once more while they
        are read again."""
        with self._lock:
            for execution_id in execution_ids:
                for key in self._keys.get(execution_id, ()):
                    read = self._reads.get(key)
                    if read is not None:
                        read.stale = True
                    self._loading.pop(key, None)

    def drop(self, execution_ids: set[str] | None) -> None:
        """A committed change: these executions' reads (None: every read) are not answered
        again."""
        with self._lock:
            if execution_ids is None:
                self._reads.clear()
                self._loading.clear()
                self._keys.clear()
                return
            for execution_id in execution_ids:
                for key in self._keys.pop(execution_id, ()):
                    self._reads.pop(key, None)
                    self._loading.pop(key, None)

    def news(self, keys: list[str] | None) -> None:
        """What manager.live_events hears: `e:<execution id>` keys name executions with new
        events, stored by any API process; None, that news may have been lost."""
        if keys is None:
            with self._lock:
                changed = set(self._keys)
        else:
            changed = {key[2:] for key in keys if key.startswith("e:")}
        if changed:
            self.stale(changed)

    def __len__(self) -> int:
        return len(self._reads)

    def watch(self, factories: list[sessionmaker[Session]]) -> None:
        """Drop (or make stale) the reads of executions that sessions of `factories`
        change, after each commit."""
        watch_commits(
            factories,
            _CHANGED,
            note_flush=_note_flush,
            note_statement=_note_statement,
            on_commit=self._committed,
        )

    def _committed(self, changed: dict[str, bool]) -> None:
        """What a commit changed: execution ids, True for more than progress."""
        if _ALL in changed:
            self.drop(None)
            return
        self.drop({execution_id for execution_id, wrong in changed.items() if wrong})
        self.stale({execution_id for execution_id, wrong in changed.items() if not wrong})


def _note_flush(session: Session, _context: Any) -> None:
    """Which executions this flush changed; True for a change beyond progress."""
    changed: dict[str, bool] = session.info.setdefault(_CHANGED, {})
    for instance in session.deleted:
        if isinstance(instance, Execution):
            changed[instance.id] = True
    for instance in session.dirty:
        if isinstance(instance, Execution):
            columns = {a.key for a in inspect(instance).attrs if a.history.has_changes()}
            if columns:  # (an attribute set to the value it had is no change)
                wrong = bool(columns - _PROGRESS)
                changed[instance.id] = changed.get(instance.id, False) or wrong


def _note_statement(state: ORMExecuteState) -> None:
    """A bulk `update(Execution)` or `delete(Execution)` through the ORM names no rows."""
    if not (state.is_update or state.is_delete):
        return
    if any(mapper.class_ is Execution for mapper in state.all_mappers):
        state.session.info.setdefault(_CHANGED, {})[_ALL] = True
