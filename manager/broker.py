"""The API's side of Redis: publishing operation tasks and checking the broker is alive."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis
from celery import Celery

from wire.presence import redis_client_url
from wire.queues import RUN_OPERATIONS, CeleryConfig

__all__ = ["RUN_OPERATIONS", "Broker", "redis_client_url"]

log = logging.getLogger(__name__)


class Broker:
    def __init__(self, broker_url: str) -> None:
        self.url = broker_url
        # Publishing only: the task is sent by name, so the worker's code is not imported.
        self.celery = Celery("quarterdeck", broker=broker_url, set_as_current=False)
        self.celery.config_from_object(CeleryConfig)
        self.redis = redis.Redis.from_url(
            redis_client_url(broker_url), socket_timeout=2, socket_connect_timeout=2
        )

    def warm(self) -> None:
        """Do now what the first publish would do (import Celery's result backend and
        kombu's Redis transport, open a pooled connection: 100-200 ms), so that the first
        execution after a start does not wait for it. Redis being down is not an error here:
        the first publish tries again."""
        try:
            self.celery.backend  # noqa: B018 - loading it is the point
            with self.celery.producer_or_acquire() as producer:
                producer.connection.ensure_connection(max_retries=0)
        except Exception:  # (kombu raises its own and redis-py's errors)
            log.debug("warming the broker connection failed", exc_info=True)

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def publish(self, items: Sequence[tuple[str, int]], queue: str, countdown: float) -> None:
        """Send operation attempts (id, attempt) to one worker of `queue`, as one message,
        due in `countdown` seconds."""
        self.celery.send_task(
            RUN_OPERATIONS,
            args=[[list(item) for item in items]],
            queue=queue,
            countdown=countdown if countdown > 0 else None,
            # No result to store, and no printable copy of the arguments to build: the
            # worker logs the operations it runs (each costs more than the send itself).
            ignore_result=True,
            argsrepr="",
            kwargsrepr="",
        )

    def backlog(self, queue: str) -> int | None:
        """Messages waiting in `queue` (None when Redis cannot tell)."""
        try:
            return int(self.redis.llen(queue))
        except redis.RedisError:
            return None

    def close(self) -> None:
        self.redis.close()
        self.celery.close()
