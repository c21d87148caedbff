"""Failed attempts: retried after their interval by the injected clock, or failed for good."""

from __future__ import annotations

import re
from typing import Any

from manager.db.engine import Database
from manager.orchestration import claims, results
from manager.orchestration.outbox import Outbox
from manager.orchestration.results import ReportedResult, WorkerReport
from tests.orchestration.support import (
    ManualClock,
    Run,
    event_types,
    execution_status,
    messages,
    new_run,
    operation,
    queued,
    states,
)


def _fail(kind: str, message: str = "boom", **extra: Any) -> dict[str, Any]:
    return {"status": "failed", "kind": kind, "exc_type": "Error", "message": message, **extra}


def _run_and_fail(
    database: Database, clock: ManualClock, run: Run, op: str, attempt: int, outcome: dict
) -> Outbox:
    """Claim attempt `attempt` of `op` and report `outcome`: what the report queued."""
    with database.transaction() as session:
        claimed, refused = claims.claim_many(
            session, [(run.ids[op], attempt)], "worker-1", 30, clock
        )
    assert len(claimed) == 1, refused
    outbox = Outbox()
    with database.transaction() as session:
        results.report_batch(
            session,
            WorkerReport(results=[ReportedResult(run.ids[op], attempt, outcome)]),
            outbox,
            clock=clock,
        )
    return outbox


def _claim_refusal(database: Database, clock: ManualClock, item: tuple[str, int]) -> str | None:
    with database.transaction() as session:
        claimed, refused = claims.claim_many(session, [item], "worker-1", 30, clock)
    return None if claimed else refused[item[0]]


def test_a_recoverable_failure_is_retried_once_its_interval_passed(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a"], max_retries=2, retry_interval=10)
    outbox = _run_and_fail(database, clock, run, "a", 1, _fail("recoverable"))
    assert queued(outbox) == [(run.ids["a"], 2, 10.0)]
    row = operation(database, run.ids["a"])
    assert (row.state, row.attempt, row.worker) == ("queued", 2, None)
    assert row.run_after is not None
    assert abs((row.run_after - clock.now).total_seconds() - 10) < 0.01

    # A message that arrives early is refused; once the clock passed the interval, it runs.
    assert _claim_refusal(database, clock, (run.ids["a"], 2)) == (
        f"Operation `{run.ids['a']}` is not due before {row.run_after}"
    )
    clock.advance(10)
    assert _claim_refusal(database, clock, (run.ids["a"], 2)) is None
    assert states(database, run) == {"a": ("running", 2)}
    assert "task_failed" in event_types(database, run)


def test_an_operation_retry_waits_the_countdown_it_asked_for(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a"], max_retries=-1, retry_interval=60)
    outcome = _fail("retry", "not yet", retry_after=5.0)
    outbox = _run_and_fail(database, clock, run, "a", 1, outcome)
    assert queued(outbox) == [(run.ids["a"], 2, 5.0)]
    assert "Task rescheduled 'tests.a' -> not yet [retry_after=5]" in messages(database, run)
    clock.advance(4)
    assert _claim_refusal(database, clock, (run.ids["a"], 2)) is None  # (a second early is due)


def test_a_non_recoverable_failure_fails_the_execution_and_its_dependents_never_run(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a", "b"], max_retries=5)
    outbox = _run_and_fail(database, clock, run, "a", 1, _fail("nonrecoverable", "broken"))
    assert outbox.items == []
    assert states(database, run) == {"a": ("failed", 1), "b": ("pending", 0)}
    status, error = execution_status(database, run)
    # (The node instance, the operation and the exception, then the task.)
    assert status == "failed"
    assert re.fullmatch(r"Task failed: a_\w+: a: Error: broken \(tests\.a\)", error), error


def test_retries_run_out(database: Database, clock: ManualClock) -> None:
    run = new_run(database, ["a"], max_retries=1, retry_interval=0)
    _run_and_fail(database, clock, run, "a", 1, _fail("recoverable"))
    outbox = _run_and_fail(database, clock, run, "a", 2, _fail("recoverable", "again"))
    assert outbox.items == []
    assert states(database, run) == {"a": ("failed", 2)}
    status, error = execution_status(database, run)
    assert status == "failed"
    assert re.fullmatch(r"Task failed: a_\w+: a: Error: again \(tests\.a\)", error), error
    assert "Task failed 'tests.a' -> again [retry 1/1]" in messages(database, run)


def test_an_operation_that_ignores_failure_lets_its_dependents_run(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a", "b"], parameters={"a": {"ignore_failure": True}})
    outbox = _run_and_fail(database, clock, run, "a", 1, _fail("nonrecoverable"))
    assert queued(outbox) == [(run.ids["b"], 1, 0.0)]
    assert states(database, run) == {"a": ("failed", 1), "b": ("queued", 1)}
