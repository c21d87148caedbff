"""The unit of work publishes its outbox only after its transaction committed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from manager.broker import Broker
from manager.db import Tenant
from manager.db.engine import Database
from manager.unit_of_work import UnitOfWork
from manager.watchdog import Watchdog


@pytest.fixture
def broker(redis_url: str) -> Iterator[Broker]:
    broker = Broker(redis_url)
    yield broker
    broker.close()


def _queue() -> str:
    return f"uow-test-{uuid.uuid4().hex[:8]}"


def test_a_commit_publishes_the_outbox(database: Database, broker: Broker) -> None:
    queue = _queue()
    with UnitOfWork.begin(database, broker) as work:
        work.session.add(Tenant(name=f"t-{queue}"))
        work.outbox.add("op-1", 1, queue)
        assert broker.backlog(queue) == 0  # not before the commit
    assert broker.backlog(queue) == 1
    assert work.outbox.items == []


def test_a_rollback_publishes_nothing(database: Database, broker: Broker) -> None:
    queue = _queue()
    with (
        pytest.raises(RuntimeError, match="the step failed"),
        UnitOfWork.begin(database, broker) as work,
    ):
        work.session.add(Tenant(name=f"t-{queue}"))
        work.outbox.add("op-1", 1, queue)
        raise RuntimeError("the step failed")
    assert broker.backlog(queue) == 0
    assert work.outbox.items == []
    with database.transaction(write=False) as session:
        assert session.scalar(select(Tenant).where(Tenant.name == f"t-{queue}")) is None


def test_a_failed_commit_publishes_nothing(database: Database, broker: Broker) -> None:
    queue = _queue()
    with database.transaction() as session:
        session.add(Tenant(name=f"t-{queue}"))
    with database.session() as session:
        work = UnitOfWork(session, broker)
        session.add(Tenant(name=f"t-{queue}"))  # a duplicate name: the commit fails
        work.outbox.add("op-1", 1, queue)
        with pytest.raises(Exception, match="(?i)unique"):
            work.commit()
    assert broker.backlog(queue) == 0
    assert work.outbox.items == []


def test_a_failing_watchdog_step_publishes_nothing(database: Database, broker: Broker) -> None:
    queue = _queue()

    def queues_then_fails(work: UnitOfWork) -> int:
        work.outbox.add("op-lost", 1, queue)
        raise RuntimeError("step bug")

    def queues(work: UnitOfWork) -> int:
        work.outbox.add("op-kept", 1, queue)
        return 1

    watchdog = Watchdog(database, [queues_then_fails, queues], interval=0.2, publisher=broker)
    assert watchdog.tick() == 1
    assert broker.backlog(queue) == 1
    assert broker.redis.lpop(queue) is not None
    assert broker.redis.llen(queue) == 0
    watchdog.stop()
