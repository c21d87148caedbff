"""The watchdog's repairs with the injected clock moved past leases and redelivery windows
(no sleeping), publishing through the real broker; cancel and resume."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, update

from manager.broker import Broker
from manager.db import Operation, ServiceLease
from manager.db.engine import Database
from manager.orchestration import claims, control, results
from manager.orchestration.locks import lock_execution
from manager.orchestration.outbox import Outbox
from manager.orchestration.results import ReportedResult, WorkerReport
from manager.settings import Settings
from manager.watchdog import LEASE_NAME, Watchdog, recovery_steps
from tests.orchestration.support import (
    ManualClock,
    Run,
    execution_status,
    messages,
    new_run,
    operation,
    published,
    queued,
    states,
)

LEASE = 3.0
WINDOW = 20.0  # the redelivery window


@pytest.fixture
def broker(redis_url: str) -> Iterator[Broker]:
    running = Broker(redis_url)
    yield running
    running.close()


def _watchdog(database: Database, broker: Broker, clock: ManualClock) -> Watchdog:
    """A watchdog on `clock`. The lease another test's watchdog left runs on that test's
    clock, which may be ahead of this one: it is removed first."""
    with database.transaction() as session:
        session.execute(delete(ServiceLease).where(ServiceLease.name == LEASE_NAME))
    settings = Settings(lease_seconds=LEASE, redelivery_seconds=WINDOW)
    return Watchdog(
        database, recovery_steps(settings, clock), interval=1, publisher=broker, clock=clock
    )


def _claim(database: Database, clock: ManualClock, run: Run, op: str, attempt: int = 1) -> None:
    with database.transaction() as session:
        claimed, refused = claims.claim_many(
            session, [(run.ids[op], attempt)], "worker-1", LEASE, clock
        )
    assert claimed, refused


def _succeed(database: Database, run: Run, op: str, attempt: int = 1) -> Outbox:
    outbox = Outbox()
    with database.transaction() as session:
        results.report_batch(
            session,
            WorkerReport(results=[ReportedResult(run.ids[op], attempt, {"status": "succeeded"})]),
            outbox,
        )
    return outbox


def _control(database: Database, run: Run, action: str) -> Outbox:
    outbox = Outbox()
    with database.transaction() as session:
        execution = lock_execution(session, run.execution_id)
        if action == "resume":
            control.resume(session, execution, outbox)
        else:
            control.cancel(session, execution, action, outbox)
    return outbox


def test_an_expired_lease_fails_the_attempt_and_publishes_its_retry(
    database: Database, broker: Broker, clock: ManualClock, redis_url: str
) -> None:
    run = new_run(database, ["a"], max_retries=1)
    _claim(database, clock, run, "a")
    watchdog = _watchdog(database, broker, clock)
    try:
        watchdog.tick()
        assert states(database, run) == {"a": ("running", 1)}  # (the lease holds)

        # A heartbeat extends the lease; the attempt lives as long as it beats.
        clock.advance(LEASE - 1)
        with database.transaction() as session:
            assert claims.heartbeat(session, run.ids["a"], 1, LEASE, clock) is False
        clock.advance(LEASE - 1)
        watchdog.tick()
        assert states(database, run) == {"a": ("running", 1)}

        clock.advance(LEASE)
        watchdog.tick()
    finally:
        watchdog.stop()
    assert states(database, run) == {"a": ("queued", 2)}
    assert published(redis_url, run.queue) == [[(run.ids["a"], 2)]]
    assert any("Worker lost" in m for m in messages(database, run))
    # The lost worker learns on its next heartbeat that its attempt is over.
    with database.transaction() as session:
        assert claims.heartbeat(session, run.ids["a"], 1, LEASE, clock) is True


def test_a_message_nobody_claimed_is_published_again_after_the_window(
    database: Database, broker: Broker, clock: ManualClock, redis_url: str
) -> None:
    run = new_run(database, ["a"])  # (its first message was never published: lost)
    watchdog = _watchdog(database, broker, clock)
    try:
        watchdog.tick()
        assert published(redis_url, run.queue) == []  # (within the window)
        clock.advance(WINDOW + 5)
        watchdog.tick()
        assert published(redis_url, run.queue) == [[(run.ids["a"], 1)]]
        # A queue whose messages still wait in Redis is busy, not lossy: left alone.
        clock.advance(WINDOW + 5)
        watchdog.tick()
        assert published(redis_url, run.queue) == [[(run.ids["a"], 1)]]
    finally:
        watchdog.stop()


def test_a_standby_watchdog_takes_over_once_the_active_ones_lease_expired(
    database: Database, broker: Broker, clock: ManualClock
) -> None:
    first = _watchdog(database, broker, clock)
    second = _watchdog(database, broker, clock)
    try:
        first.tick()
        second.tick()
        assert (first.is_leader, second.is_leader) == (True, False)
        clock.advance(first.interval * 3 + 1)  # the first died without releasing
        second.tick()
        assert second.is_leader
    finally:
        first.is_leader = False  # (it lost the lease: nothing of its own to release)
        second.stop()


def test_cancel_holds_what_is_queued_lets_running_work_finish_and_resume_runs_the_rest(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a", "b"], parallel=("c",))
    _claim(database, clock, run, "a")
    assert _control(database, run, "cancel").items == []
    assert execution_status(database, run)[0] == "cancelling"
    assert states(database, run) == {"a": ("running", 1), "b": ("pending", 0), "c": ("pending", 1)}

    # The running operation's success ends the cancel; what it made ready is held.
    assert _succeed(database, run, "a").items == []
    assert execution_status(database, run)[0] == "cancelled"
    assert states(database, run) == {
        "a": ("succeeded", 1),
        "b": ("pending", 0),
        "c": ("pending", 1),
    }

    outbox = _control(database, run, "resume")
    assert sorted(queued(outbox)) == sorted([(run.ids["b"], 1, 0.0), (run.ids["c"], 2, 0.0)])
    assert execution_status(database, run) == ("started", "")
    for op, attempt in (("b", 1), ("c", 2)):
        _claim(database, clock, run, op, attempt)
        _succeed(database, run, op, attempt)
    assert execution_status(database, run) == ("terminated", "")


def test_kill_cancels_running_operations_and_their_workers_are_told(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a"])
    _claim(database, clock, run, "a")
    _control(database, run, "kill")
    assert execution_status(database, run)[0] == "cancelled"
    assert states(database, run) == {"a": ("cancelled", 1)}
    with database.transaction() as session:
        assert claims.heartbeat(session, run.ids["a"], 1, LEASE, clock) is True
    # A late success of the killed attempt cannot resurrect it.
    _succeed(database, run, "a")
    assert states(database, run) == {"a": ("cancelled", 1)}


def test_force_cancel_tells_running_workers_to_stop(database: Database, clock: ManualClock) -> None:
    run = new_run(database, ["a"])
    _claim(database, clock, run, "a")
    _control(database, run, "force-cancel")
    assert execution_status(database, run)[0] == "force_cancelling"
    with database.transaction() as session:
        assert claims.heartbeat(session, run.ids["a"], 1, LEASE, clock) is True


def test_resume_is_refused_while_the_execution_runs(database: Database) -> None:
    run = new_run(database, ["a"])
    with pytest.raises(Exception) as refused:
        _control(database, run, "resume")
    assert str(refused.value) == (
        f"Execution `{run.execution_id}` is started: only failed or cancelled executions "
        "can be resumed"
    )


def test_an_execution_left_with_nothing_to_run_is_ended_by_the_watchdog(
    database: Database, broker: Broker, clock: ManualClock
) -> None:
    run = new_run(database, ["a"])
    # The state `finish_stuck` is the safety net for: the last result is in, the execution
    # was not ended with it.
    with database.transaction() as session:
        session.execute(
            update(Operation).where(Operation.id == run.ids["a"]).values(state="succeeded")
        )
    watchdog = _watchdog(database, broker, clock)
    try:
        watchdog.tick()
    finally:
        watchdog.stop()
    assert execution_status(database, run) == ("terminated", "")
    assert operation(database, run.ids["a"]).state == "succeeded"
