"""The worker's presence record in Redis (see wire.presence), renewed by a thread of the
worker's main process from the moment Celery is ready until it shuts down."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutdown

import wire
from wire.presence import (
    PRESENCE_INTERVAL,
    PRESENCE_PREFIX,
    PRESENCE_TTL,
    WorkerPresence,
    redis_client_url,
)

log = logging.getLogger(__name__)


def pool_pids() -> list[int]:
    """The children of this process (Celery's pool processes), from /proc (Linux)."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").glob("*"):
        try:
            pids.update(int(pid) for pid in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return sorted(pids)


class Presence:
    """Writes this worker's record every PRESENCE_INTERVAL seconds until `stop()`."""

    def __init__(self, broker_url: str, name: str, queues: list[str], concurrency: int) -> None:
        self.redis = redis.Redis.from_url(
            redis_client_url(broker_url), socket_timeout=2, socket_connect_timeout=2
        )
        self.hostname = socket.gethostname()
        self.key = f"{PRESENCE_PREFIX}{self.hostname}:{os.getpid()}"
        self.name = name
        self.queues = queues
        self.concurrency = concurrency
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self) -> WorkerPresence:
        return {
            "name": self.name,
            "hostname": self.hostname,
            "pid": os.getpid(),
            "pool_pids": pool_pids(),
            "queues": self.queues,
            "concurrency": self.concurrency,
            "started_at": self.started_at,
            "heartbeat_at": time.time(),
            "wire_version": wire.WIRE_VERSION,
        }

    def beat(self) -> None:
        self.redis.set(self.key, json.dumps(self.record()), ex=int(PRESENCE_TTL))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except redis.RedisError as exc:
                log.warning("could not renew this worker's presence in Redis: %s", exc)
            self._stop.wait(PRESENCE_INTERVAL)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        try:
            self.redis.delete(self.key)
        except redis.RedisError:
            pass
        self.redis.close()


def announce_when_ready(celery: Celery, presence: Presence) -> None:
    """Start `presence` once `celery`'s worker consumes, stop it when the worker shuts down."""

    def on_ready(sender: object = None, **_: object) -> None:
        presence.start()
        log.info(
            "worker %s ready: queues %s, concurrency %d",
            presence.name,
            ",".join(presence.queues),
            presence.concurrency,
        )

    def on_shutdown(sender: object = None, **_: object) -> None:
        presence.stop()

    # (Strong references: the handlers are closures that would otherwise be collected.)
    worker_ready.connect(on_ready, weak=False)
    worker_shutdown.connect(on_shutdown, weak=False)
