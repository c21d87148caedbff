"""Operations to publish once the transaction that queued them commits, and how they travel.

A publish that is lost is repaired by the watchdog, which publishes again the queued
operations nobody claimed (`control.republish_lost`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

log = logging.getLogger(__name__)

# Operations queued together on one queue travel in messages of up to this many: a worker
# claims and reports each message's operations in one request each.
BATCH_SIZE = 8


class Publisher(Protocol):
    def publish(self, items: Sequence[tuple[str, int]], queue: str, countdown: float) -> None:
        """Send operation attempts (id, attempt) to one worker of `queue`, as one message."""
        ...

    def backlog(self, queue: str) -> int | None: ...


class Message(NamedTuple):
    operation_id: str
    attempt: int
    queue: str
    countdown: float = 0.0
    single: bool = False  # never batched with others


@dataclass
class Outbox:
    """Operations to publish once the transaction that queued them has committed."""

    items: list[Message] = field(default_factory=list)

    def add(
        self,
        operation_id: str,
        attempt: int,
        queue: str,
        countdown: float = 0.0,
        *,
        single: bool = False,
    ) -> None:
        self.items.append(Message(operation_id, attempt, queue, countdown, single))

    def drop(self) -> None:
        """Forget what was queued: its transaction rolled back."""
        self.items.clear()

    def flush(self, publisher: Publisher | None) -> int:
        """Publish: due operations of one queue in batches of up to BATCH_SIZE, the others
        one per message. Returns how many operations were sent."""
        sent = 0
        items, self.items = self.items, []
        if publisher is None:
            return 0
        batches: dict[str, list[Message]] = {}
        for item in items:
            if item.countdown > 0 or item.single:
                sent += self._send(publisher, [item])
            else:
                batches.setdefault(item.queue, []).append(item)
        for batch in batches.values():
            for start in range(0, len(batch), BATCH_SIZE):
                sent += self._send(publisher, batch[start : start + BATCH_SIZE])
        return sent

    @staticmethod
    def _send(publisher: Publisher, items: list[Message]) -> int:
        try:
            # (A message of one is a batch of one; only a lone message waits a countdown.)
            countdown = items[0].countdown if len(items) == 1 else 0.0
            publisher.publish(
                [(i.operation_id, i.attempt) for i in items], items[0].queue, countdown
            )
        except Exception:
            # The operations stay queued; the watchdog publishes them again later.
            log.warning(
                "publishing operations %s failed", [i.operation_id for i in items], exc_info=True
            )
            return 0
        return len(items)
