from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from manager.db import ServiceLease
from manager.settings import Settings
from manager.watchdog import LEASE_NAME
from tests.conftest import BACKENDS, _drop_postgres_database, fresh_database_url
from tests.engine.stack import Stack
from tests.support import wait_until
from wire import WIRE_HEADER, WIRE_VERSION


def operation_rows(database: Engine, execution_id: str) -> list[dict[str, Any]]:
    """An execution's plugin operations (id, name, node_instance_id, state, attempt,
    worker), ordered by instance then name."""
    with database.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, name, node_instance_id, state, attempt, worker FROM operations"
                " WHERE execution_id = :e AND type = 'operation'"
                " ORDER BY node_instance_id, name"
            ),
            {"e": execution_id},
        ).mappings()
        return [dict(r) for r in rows]


def wait_for_watchdog_pass(
    database: Engine, moment: datetime, interval: float, timeout: float = 60
) -> None:
    """Wait until the stack's watchdog ran a whole pass that began after `moment`.

    Each pass starts by renewing the watchdog's lease to `3 * interval` ahead: a renewal
    stamped after `moment`, then the next renewal (the following pass), prove that a pass
    began after `moment` and ran all its steps. What a pass would have done by then (expire
    a lease, publish a message again), it did; what it did not do, it does not."""

    def renewal_after(moment: datetime) -> datetime | None:
        """When the lease was last renewed, if that was after `moment`."""
        with Session(database) as session:
            expires = session.scalar(
                select(ServiceLease.expires_at).where(ServiceLease.name == LEASE_NAME)
            )
        renewed = None if expires is None else expires - timedelta(seconds=3 * interval)
        return renewed if renewed is not None and renewed > moment else None

    began: datetime = wait_until(  # type: ignore[assignment]
        lambda: renewal_after(moment),
        timeout,
        what=f"a watchdog pass begun after {moment.isoformat()}",
    )
    wait_until(
        lambda: renewal_after(began),
        timeout,
        what="the watchdog's next pass, which starts once the previous one ended",
    )


def worker_http(stack: Stack) -> httpx.Client:
    """A client of the stack's worker routes, with the worker token: for tests that stand
    in for a worker."""
    token = Settings(secret_key=stack.env["QD_SECRET_KEY"]).resolved_worker_token
    return httpx.Client(
        base_url=stack.url + "/api/v3.1/worker/operations",
        headers={"Authorization": f"Bearer {token}", WIRE_HEADER: str(WIRE_VERSION)},
        timeout=30,
    )


def make_stack(backend: str, root: Path, redis_url: str, workers: int = 1, **settings: str):
    url, name = fresh_database_url(backend, root)
    stack = Stack(root, url, redis_url, **settings)
    return stack, name


@contextmanager
def own_stack(
    backend: str, root: Path, redis_url: str, *, workers: int | None = None, **settings: str
) -> Iterator[Stack]:
    """A stack (and database) of a test's own, for tests that kill or stand in for its
    processes; started with `workers` workers unless None (the test starts it)."""
    running, name = make_stack(backend, root, redis_url, **settings)
    try:
        if workers is not None:
            running.start(workers=workers)
        yield running
    finally:
        running.stop()
        if name:
            _drop_postgres_database(name)


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Stack]:
    """One API and one worker (two processes) shared by a module's tests."""
    root = tmp_path_factory.mktemp("stack")
    running, name = make_stack(request.param, root, redis_url)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        if name:
            _drop_postgres_database(name)
