"""How workers announce themselves: a record per worker in Redis, renewed on a period.

Each `quarterdeck worker` writes its record under `PRESENCE_PREFIX + <id>` every
`PRESENCE_INTERVAL` seconds with an expiry of `PRESENCE_TTL`, so a worker that dies
disappears on its own; a worker that stops cleanly deletes its record. The API reads these
records for `/status` and `/workers` and never asks Celery (whose inspect waits for replies).
"""

from __future__ import annotations

from typing import TypedDict

PRESENCE_PREFIX = "quarterdeck:worker:"
PRESENCE_INTERVAL = 5.0
# Three missed renewals and the record is gone.
PRESENCE_TTL = 3 * PRESENCE_INTERVAL


class WorkerPresence(TypedDict):
    """One worker's record (JSON in Redis)."""

    # Celery's node name, e.g. central@host.
    name: str
    hostname: str
    # The worker's main process.
    pid: int
    # Its pool processes: operations name their worker `<hostname>:<pool pid>`.
    pool_pids: list[int]
    queues: list[str]
    concurrency: int
    # Seconds since the epoch.
    started_at: float
    heartbeat_at: float
    wire_version: int


def redis_client_url(broker_url: str) -> str:
    """redis-py spells kombu's `redis+socket://` unix-socket URLs `unix://`."""
    if broker_url.startswith("redis+socket://"):
        return "unix://" + broker_url[len("redis+socket://") :]
    return broker_url
