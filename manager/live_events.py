"""Telling event streams that new events were stored, across every API process.

Each commit that stores events publishes one small message on a Redis channel (which
executions got events, and their deployments). Every API process runs one subscriber
(`LiveEvents`) that wakes the streams waiting on those executions or deployments; the
streams then read the new events from the database. So a stream costs no query while
nothing happens, and a few queries per batch of events when something does.

Redis pub/sub loses messages while a subscriber is disconnected: streams therefore also
read the database every `fallback` seconds whatever they were told, and a lost message
delays an event by at most that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
import redis.asyncio as aioredis

from manager.broker import redis_client_url
from manager.db.event_store import StoredEvents

log = logging.getLogger(__name__)

CHANNEL = "quarterdeck:events"
# How long the subscriber waits before connecting again after losing Redis.
_RECONNECT_SECONDS = 1.0
# How long stopping waits for the subscriber to let go of Redis.
_STOP_SECONDS = 2.0


def execution_key(execution_id: str) -> str:
    return f"e:{execution_id}"


def deployment_key(tenant_pk: int, deployment_id: str) -> str:
    return f"d:{tenant_pk}:{deployment_id}"


class EventPublisher:
    """Publishes, after a commit, which executions got events (see manager.db.event_store
    `on_committed`). A Redis failure is logged and ignored: streams fall back to reading
    the database on their own. After a failure it stays quiet for `pause` seconds, so that
    while Redis is away commits do not each wait for a connection timeout."""

    def __init__(self, client: redis.Redis, pause: float = 5.0) -> None:
        self.client = client
        self.pause = pause
        self._quiet_until = 0.0

    def __call__(self, stored: StoredEvents) -> None:
        if time.monotonic() < self._quiet_until:
            return
        keys: list[str] = []
        for execution_id, deployment_id, tenant_pk in stored:
            keys.append(execution_key(execution_id))
            if deployment_id is not None:
                keys.append(deployment_key(tenant_pk, deployment_id))
        try:
            self.client.publish(CHANNEL, json.dumps(keys))
        except redis.RedisError as exc:
            self._quiet_until = time.monotonic() + self.pause
            log.info("could not announce new events (streams poll meanwhile): %s", exc)


class LiveEvents:
    """One process's subscriber to the events channel, and the streams waiting on it.

    A stream `watch`es a key (an execution's or a deployment's) and gets an asyncio.Event
    that is set whenever a message names that key; it clears it before each read.
    """

    def __init__(
        self, broker_url: str, on_news: Callable[[list[str] | None], None] | None = None
    ) -> None:
        self.broker_url = broker_url
        # Also told every key heard, or None when news may have been lost (on the loop).
        self.on_news = on_news
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # Bounded: a Redis connection that hangs while closing must not hold up the
            # API's shutdown (the task is dropped with the loop then).
            await asyncio.wait({self._task}, timeout=_STOP_SECONDS)
            self._task = None

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[asyncio.Event]:
        """An event set when news about `key` arrives; forgotten when the block ends (a
        stream whose client went away leaves nothing behind)."""
        flag = asyncio.Event()
        self._waiting.setdefault(key, set()).add(flag)
        try:
            yield flag
        finally:
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.discard(flag)
                if not waiting:
                    del self._waiting[key]

    @property
    def watched(self) -> int:
        """How many streams are waiting (for tests and metrics)."""
        return sum(len(flags) for flags in self._waiting.values())

    def notify(self, keys: list[str]) -> None:
        if self.on_news is not None:
            self.on_news(keys)
        for key in keys:
            for flag in self._waiting.get(key, ()):
                flag.set()

    async def _listen(self) -> None:
        while True:
            client: Any = aioredis.Redis.from_url(redis_client_url(self.broker_url))
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # Anything published while we were away is lost: wake every stream so
                    # that each reads the database once.
                    self._wake_all()
                    async for message in pubsub.listen():
                        self._received(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: streams poll until it is back.
                log.debug("live events subscriber lost Redis: %s", exc)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(_RECONNECT_SECONDS)

    def _received(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            keys = json.loads(message["data"])
        except (ValueError, TypeError):
            return
        if isinstance(keys, list):
            self.notify([str(key) for key in keys])

    def _wake_all(self) -> None:
        if self.on_news is not None:
            self.on_news(None)
        for flags in self._waiting.values():
            for flag in flags:
                flag.set()
