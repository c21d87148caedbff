"""Claims, results and completion, in process on a real database."""

from __future__ import annotations

import pytest

from manager.db.engine import Database
from manager.orchestration import claims, results
from manager.orchestration.operation_states import StaleReport
from manager.orchestration.outbox import Outbox
from manager.orchestration.results import ReportedResult, WorkerReport
from tests.orchestration.support import (
    ManualClock,
    event_types,
    execution_status,
    new_run,
    operation,
    queued,
    states,
)

OK = {"status": "succeeded"}


def _claim(database: Database, clock: ManualClock, items: list[tuple[str, int]], lease: float = 3):
    with database.transaction() as session:
        return claims.claim_many(session, items, "worker-1", lease, clock)


def _report(
    database: Database, clock: ManualClock, *results_: ReportedResult, want: int = 0
) -> tuple[dict[str, str], list[str], Outbox]:
    """A worker's report of `results_`; what became of each, what it was handed, and what
    the transaction queued."""
    outbox = Outbox()
    with database.transaction() as session:
        answers, handed = results.report_batch(
            session,
            WorkerReport(results=list(results_)),
            outbox,
            worker="worker-1",
            want=want,
            clock=clock,
        )
        return answers, [claimed.row.id for claimed in handed], outbox


def test_storing_a_graph_queues_only_what_is_ready(database: Database) -> None:
    run = new_run(database, ["a", "b"], parallel=("c",))
    assert sorted(queued(run.outbox)) == sorted([(run.ids["a"], 1, 0.0), (run.ids["c"], 1, 0.0)])
    assert states(database, run) == {"a": ("queued", 1), "b": ("pending", 0), "c": ("queued", 1)}
    assert execution_status(database, run) == ("started", "")


def test_a_claim_runs_the_attempt_with_a_lease_from_the_clock(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a"])
    claimed, refused = _claim(database, clock, [(run.ids["a"], 1)], lease=3)
    assert [c.row.id for c in claimed] == [run.ids["a"]] and refused == {}
    row = operation(database, run.ids["a"])
    assert (row.state, row.worker) == ("running", "worker-1")
    assert row.lease_expires_at is not None
    assert abs((row.lease_expires_at - clock.now).total_seconds() - 3) < 0.01

    # A second delivery of the same message, and a message of another attempt, are dropped.
    again, refused = _claim(database, clock, [(run.ids["a"], 1)])
    assert again == []
    assert refused == {
        run.ids["a"]: f"Operation `{run.ids['a']}` attempt 1 is not waiting for a worker "
        "(it is running, attempt 1): drop the message"
    }


def test_a_success_queues_the_dependents_and_the_last_one_ends_the_execution(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a", "b"])
    _claim(database, clock, [(run.ids["a"], 1)])
    answers, handed, outbox = _report(database, clock, ReportedResult(run.ids["a"], 1, OK))
    assert answers == {run.ids["a"]: "applied"} and handed == []
    assert queued(outbox) == [(run.ids["b"], 1, 0.0)]
    assert states(database, run) == {"a": ("succeeded", 1), "b": ("queued", 1)}

    # The same report again changes nothing and queues nothing.
    answers, _, outbox = _report(database, clock, ReportedResult(run.ids["a"], 1, OK))
    assert answers == {run.ids["a"]: "repeated"} and outbox.items == []

    _claim(database, clock, [(run.ids["b"], 1)])
    _, _, outbox = _report(database, clock, ReportedResult(run.ids["b"], 1, OK))
    assert outbox.items == []
    assert execution_status(database, run) == ("terminated", "")
    types = event_types(database, run)
    assert types[0] == "workflow_started" and types[-1] == "workflow_succeeded"
    assert types.count("task_succeeded") == 2


def test_a_report_hands_over_what_it_made_ready_without_publishing_it(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a", "b"])
    _claim(database, clock, [(run.ids["a"], 1)])
    _, handed, outbox = _report(database, clock, ReportedResult(run.ids["a"], 1, OK), want=2)
    assert handed == [run.ids["b"]]
    assert outbox.items == []  # (the reporting worker runs it: no message)
    assert states(database, run)["b"] == ("running", 1)


def test_a_report_of_another_attempt_is_stale(database: Database, clock: ManualClock) -> None:
    run = new_run(database, ["a"])
    _claim(database, clock, [(run.ids["a"], 1)])
    answers, _, _ = _report(database, clock, ReportedResult(run.ids["a"], 2, OK))
    assert answers == {
        run.ids["a"]: f"Operation `{run.ids['a']}` attempt 2 is not running "
        "(it is running, attempt 1); the report is ignored"
    }
    with database.transaction() as session, pytest.raises(StaleReport):
        results.report(session, run.ids["a"], 2, OK, Outbox(), clock)
    assert states(database, run) == {"a": ("running", 1)}


def test_a_released_attempt_is_queued_again_as_a_message_of_its_own(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a"], parallel=("b",))
    _claim(database, clock, [(run.ids["a"], 1), (run.ids["b"], 1)])
    outbox = Outbox()
    with database.transaction() as session:
        answers, _ = results.report_batch(
            session, WorkerReport(released=[(run.ids["b"], 1)]), outbox, clock=clock
        )
    assert answers == {run.ids["b"]: "released"}
    assert [(m.operation_id, m.attempt, m.single) for m in outbox.items] == [
        (run.ids["b"], 1, True)
    ]
    assert states(database, run) == {"a": ("running", 1), "b": ("queued", 1)}
