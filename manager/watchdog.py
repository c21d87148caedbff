"""The watchdog loop: one active replica at a time (a lease row), running recovery steps."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from manager import metrics
from manager.clock import Clock
from manager.db import ServiceLease
from manager.db.base import utcnow
from manager.db.engine import Database
from manager.orchestration import control
from manager.orchestration.outbox import Publisher
from manager.settings import Settings
from manager.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

LEASE_NAME = "watchdog"

# A step gets a unit of work (committed, then its outbox published, when the step returns)
# and returns how many things it fixed.
Step = Callable[[UnitOfWork], int]


def try_acquire(
    session: Session, holder: str, ttl: float, name: str = LEASE_NAME, clock: Clock = utcnow
) -> bool:
    """Take or extend the lease; True when `holder` has it for the next `ttl` seconds."""
    now = clock()
    expires = now + timedelta(seconds=ttl)
    renewed = session.execute(
        update(ServiceLease)
        .where(ServiceLease.name == name)
        .where((ServiceLease.holder == holder) | (ServiceLease.expires_at < now))
        .values(holder=holder, expires_at=expires)
    )
    if getattr(renewed, "rowcount", 0):
        return True
    try:
        with session.begin_nested():
            session.execute(
                insert(ServiceLease).values(name=name, holder=holder, expires_at=expires)
            )
    except IntegrityError:
        return False
    return True


def release(session: Session, holder: str, name: str = LEASE_NAME, clock: Clock = utcnow) -> None:
    session.execute(
        update(ServiceLease)
        .where(ServiceLease.name == name, ServiceLease.holder == holder)
        .values(expires_at=clock())
    )


class Watchdog:
    """Runs `steps` every `interval` seconds while this process holds the watchdog lease
    (whose expiry `clock` tells: the steps take their own, see `recovery_steps`)."""

    def __init__(
        self,
        database: Database,
        steps: Sequence[Step],
        interval: float,
        on_takeover: Step | None = None,
        publisher: Publisher | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.database = database
        self.publisher = publisher
        self.clock = clock
        self.steps = list(steps)
        self.on_takeover = on_takeover
        self.interval = interval
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.is_leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.is_leader:
            with self.database.transaction() as session:
                release(session, self.holder, clock=self.clock)
            self.is_leader = False

    def tick(self) -> int:
        """One round: keep or take the lease, then run every step if we hold it."""
        with self.database.transaction() as session:
            leader = try_acquire(session, self.holder, ttl=self.interval * 3, clock=self.clock)
        if leader != self.is_leader:
            log.info("watchdog %s: %s", self.holder, "active" if leader else "standby")
            if leader and self.on_takeover is not None:
                with UnitOfWork.begin(self.database, self.publisher) as work:
                    self.on_takeover(work)
        self.is_leader = leader
        if not leader:
            return 0
        fixed = 0
        for step in self.steps:
            # Each step in its own transaction: one failing step does not undo the others.
            try:
                with UnitOfWork.begin(self.database, self.publisher) as work:
                    repaired = step(work)
                metrics.watchdog_repaired(getattr(step, "__name__", "step"), repaired)
                fixed += repaired
            except Exception:
                log.exception("watchdog step %s failed", getattr(step, "__name__", step))
        return fixed

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("watchdog round failed")
            self._stop.wait(self.interval)


def recovery_steps(settings: Settings, clock: Clock = utcnow) -> list[Step]:
    """What the active watchdog repairs each round; each publishes after its commit. Leases
    expire and messages count as lost by `clock`."""

    def expire_leases(work: UnitOfWork) -> int:
        return control.expire_leases(work.session, work.outbox, clock)

    def republish_lost(work: UnitOfWork) -> int:
        return control.republish_lost(
            work.session, work.outbox, settings.redelivery_seconds, clock, publisher=work.publisher
        )

    def start_queued(work: UnitOfWork) -> int:
        from manager.services.executions import start_queued as start

        return start(work.session, settings, work.outbox)

    def finish_stuck(work: UnitOfWork) -> int:
        return control.finish_stuck(work.session, work.outbox)

    return [expire_leases, republish_lost, start_queued, finish_stuck]
