"""The polled reads of executions (manager.api.execution_reads): what this process commits
is answered at once, another process's events make a read stale, age does too, a read is
kept per caller's visibility, and concurrent polls share one read of the database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from manager.api.execution_reads import ExecutionReads, Key
from manager.db import Execution
from manager.db.engine import Database
from manager.live_events import CHANNEL, execution_key
from manager.main import create_app
from manager.settings import Settings
from tests.api.callers import Caller, new_tenant, new_user, start_execution_row
from wire.presence import redis_client_url


@pytest.fixture()
def tenant(database: Database) -> str:
    return new_tenant(database)


@pytest.fixture()
def admin(client: TestClient, tenant: str, admin_credentials: tuple[str, str]) -> Caller:
    return Caller(client, tenant, admin_credentials)


def _execution(database: Database, tenant: str, admin: Caller) -> str:
    assert admin.auth is not None
    execution_id, _ = start_execution_row(database, tenant, None, admin.auth[0], blueprint_id="bp")
    return execution_id


def _reads(client: TestClient) -> ExecutionReads:
    reads: ExecutionReads = client.app.state.execution_reads  # type: ignore[attr-defined]
    return reads


def _poll(caller: Caller, execution_id: str) -> dict[str, Any]:
    response = caller.get(f"/executions/{execution_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _other_process_sets(database: Database, execution_id: str, **values: Any) -> None:
    # `database` is not the app's: to the app this is another process's write.
    with database.transaction() as session:
        session.execute(update(Execution).where(Execution.id == execution_id).values(**values))


def test_a_status_this_process_commits_is_answered_at_once(
    client: TestClient, database: Database, tenant: str, admin: Caller
) -> None:
    execution_id = _execution(database, tenant, admin)
    for _ in range(3):  # the first fills the caller cache, the next ones the reads
        assert _poll(admin, execution_id)["status"] == "pending"
    assert len(_reads(client)) >= 1
    changed = admin.patch(f"/executions/{execution_id}", json={"status": "cancelled"})
    assert changed.status_code == 200, changed.text
    assert _poll(admin, execution_id)["status"] == "cancelled"


def test_a_deleted_execution_is_not_answered_from_its_read(
    client: TestClient, database: Database, tenant: str, admin: Caller
) -> None:
    execution_id = _execution(database, tenant, admin)
    admin.patch(f"/executions/{execution_id}", json={"status": "cancelled"})
    for _ in range(3):
        assert _poll(admin, execution_id)["status"] == "cancelled"
    deleted = admin.request("DELETE", "/executions", json={"keep_last": 0})
    assert deleted.status_code == 200, deleted.text
    assert admin.get(f"/executions/{execution_id}").status_code == 404


def test_a_read_is_kept_per_visibility(
    client: TestClient, database: Database, tenant: str, admin: Caller
) -> None:
    """An administrator's read is not what a member of another tenant is answered."""
    execution_id = _execution(database, tenant, admin)
    for _ in range(3):
        _poll(admin, execution_id)
    stranger_tenant = new_tenant(database)
    stranger = new_user(client, database, stranger_tenant, "viewer")
    for _ in range(3):
        assert stranger.get(f"/executions/{execution_id}").status_code == 404
    # Asking for it in the execution's tenant, where the stranger is no member: refused.
    assert stranger.in_tenant(tenant).get(f"/executions/{execution_id}").status_code in (401, 403)


@pytest.fixture()
def short_lived(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, run_watchdog=False)
    with TestClient(app) as client:
        yield client


def test_another_process_s_change_is_answered_after_the_ttl(
    short_lived: TestClient, database: Database, tenant: str, admin_credentials: tuple[str, str]
) -> None:
    admin = Caller(short_lived, tenant, admin_credentials)
    execution_id = _execution(database, tenant, admin)
    reads = _reads(short_lived)
    reads.ttl = 0.3
    for _ in range(3):
        assert _poll(admin, execution_id)["status"] == "pending"
    _other_process_sets(database, execution_id, status="cancelled")
    # Within the ttl the read may be answered; once it is older, it is read again.
    assert _until(lambda: _poll(admin, execution_id)["status"] == "cancelled")


def test_another_process_s_events_make_the_read_stale(
    short_lived: TestClient,
    database: Database,
    tenant: str,
    admin_credentials: tuple[str, str],
    settings: Settings,
) -> None:
    """Progress moves with events: the message another API process publishes when it stores
    them (manager.live_events) makes this process read the execution again, long before the
    ttl."""
    admin = Caller(short_lived, tenant, admin_credentials)
    execution_id = _execution(database, tenant, admin)
    reads = _reads(short_lived)
    reads.ttl = 3600.0
    reads.max_age = 7200.0
    for _ in range(3):
        assert _poll(admin, execution_id)["finished_operations"] == 0
    _other_process_sets(database, execution_id, finished_operations=7)
    time.sleep(0.2)
    assert _poll(admin, execution_id)["finished_operations"] == 0  # nobody said
    publisher = redis.Redis.from_url(redis_client_url(settings.resolved_broker_url))
    try:
        # The subscriber connects when the app starts: publish until it hears.
        def heard() -> bool:
            publisher.publish(CHANNEL, f'["{execution_key(execution_id)}"]')
            return bool(_poll(admin, execution_id)["finished_operations"] == 7)

        assert _until(heard)
    finally:
        publisher.close()


# --- the cache on its own -------------------------------------------------------------------


def _key(execution_id: str = "e1") -> Key:
    return (execution_id, 1, 1, False)


class _Database:
    """What a loader reads, and how many times it was asked (a stand-in for the table)."""

    def __init__(self) -> None:
        self.status = "started"
        self.reads = 0
        self.delay = 0.0
        self.gate: asyncio.Event | None = None

    async def load(self) -> dict[str, Any] | None:
        self.reads += 1
        status = self.status  # what the query sees when it runs
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.delay)
        return {"id": "e1", "status": status}


def test_concurrent_misses_share_one_read() -> None:
    async def main() -> None:
        reads, table = ExecutionReads(), _Database()
        table.delay = 0.05
        got = await asyncio.gather(*(reads.get(_key(), table.load) for _ in range(50)))
        assert table.reads == 1
        assert {read.answer["status"] for read in got if read is not None} == {"started"}
        assert all(read is not None for read in got)

    asyncio.run(main())


def test_a_stale_read_is_answered_while_it_is_read_again() -> None:
    async def main() -> None:
        reads, table = ExecutionReads(), _Database()
        await reads.get(_key(), table.load)
        table.status = "terminated"
        reads.stale({"e1"})
        first = await reads.get(_key(), table.load)  # answered at once, reread behind
        assert first is not None and first.answer["status"] == "started"
        await asyncio.sleep(0.01)
        second = await reads.get(_key(), table.load)
        assert second is not None and second.answer["status"] == "terminated"
        assert table.reads == 2

    asyncio.run(main())


def test_a_dropped_read_is_never_answered_and_a_read_under_way_is_not_kept() -> None:
    async def main() -> None:
        reads, table = ExecutionReads(), _Database()
        await reads.get(_key(), table.load)
        reads.stale({"e1"})
        table.gate = asyncio.Event()
        stale = await reads.get(_key(), table.load)  # starts a reread, held at the gate
        assert stale is not None and stale.answer["status"] == "started"
        table.status = "cancelled"
        reads.drop({"e1"})  # committed while the reread (of "started") was under way
        table.gate.set()
        await asyncio.sleep(0.01)
        fresh = await reads.get(_key(), table.load)
        assert fresh is not None and fresh.answer["status"] == "cancelled"

    asyncio.run(main())


def test_reads_older_than_max_age_are_not_answered() -> None:
    async def main() -> None:
        reads, table = ExecutionReads(ttl=0.0, max_age=0.05), _Database()
        await reads.get(_key(), table.load)

        async def failing() -> dict[str, Any] | None:
            raise RuntimeError("the database is away")

        await asyncio.sleep(0.06)
        assert await reads.get(_key(), failing) is None
        assert len(reads) == 1  # kept, but too old to answer

    asyncio.run(main())


def test_an_invisible_execution_is_not_kept() -> None:
    async def main() -> None:
        reads = ExecutionReads()

        async def missing() -> dict[str, Any] | None:
            return None

        assert await reads.get(_key(str(uuid.uuid4())), missing) is None
        assert len(reads) == 0

    asyncio.run(main())


def test_a_commit_through_the_orm_drops_the_read(
    database: Database, tenant: str, admin: Caller
) -> None:
    """The listeners on the session factories, on their own: a progress change makes the
    read stale, a rollback does nothing, any other change drops it."""
    execution_id = _execution(database, tenant, admin)
    key: Key = (execution_id, 1, 1, False)
    own = Database(database.url)
    reads = ExecutionReads()
    reads.watch(own.factories)

    async def fill() -> None:
        async def load() -> dict[str, Any] | None:
            return {"id": execution_id}

        await reads.get(key, load)

    def change(**values: Any) -> None:
        with own.transaction() as session:
            row = session.scalar(select(Execution).where(Execution.id == execution_id))
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)

    try:
        asyncio.run(fill())
        change(workflow_id="install")  # the value it has: no change
        assert len(reads) == 1 and not reads._reads[key].stale
        with pytest.raises(RuntimeError), own.transaction() as session:
            row = session.scalar(select(Execution).where(Execution.id == execution_id))
            assert row is not None
            row.error = "rolled back"
            session.flush()
            raise RuntimeError
        assert len(reads) == 1 and not reads._reads[key].stale
        change(finished_operations=3)
        assert len(reads) == 1 and reads._reads[key].stale
        change(finished_operations=4, error="changed")
        assert len(reads) == 0
    finally:
        own.dispose()
