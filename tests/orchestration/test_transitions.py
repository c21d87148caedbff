"""The transition tables at work: late and held writes on a real database."""

from __future__ import annotations

import pytest

from manager.db.engine import Database
from manager.errors import Conflict
from manager.orchestration import claims, control, executions, results
from manager.orchestration.locks import lock_execution
from manager.orchestration.outbox import Outbox
from manager.orchestration.results import ReportedResult, WorkerReport
from tests.orchestration.support import ManualClock, execution_status, new_run, queued, states


def test_a_retry_of_a_cancelling_execution_is_held_until_a_resume(
    database: Database, clock: ManualClock
) -> None:
    run = new_run(database, ["a"], max_retries=3)
    with database.transaction() as session:
        claims.claim_many(session, [(run.ids["a"], 1)], "worker-1", 30, clock)
    with database.transaction() as session:
        control.cancel(session, lock_execution(session, run.execution_id), "cancel", Outbox())
    outbox = Outbox()
    failed = {"status": "failed", "kind": "recoverable", "message": "boom"}
    with database.transaction() as session:
        results.report_batch(
            session, WorkerReport([ReportedResult(run.ids["a"], 1, failed)]), outbox, clock=clock
        )
    assert outbox.items == []  # (held: nothing to publish)
    assert states(database, run) == {"a": ("pending", 2)}
    assert execution_status(database, run)[0] == "cancelled"

    with database.transaction() as session:
        control.resume(session, lock_execution(session, run.execution_id), outbox)
    assert queued(outbox) == [(run.ids["a"], 3, 0.0)]
    assert states(database, run) == {"a": ("queued", 3)}


def test_a_claim_after_a_cancel_is_dropped(database: Database, clock: ManualClock) -> None:
    run = new_run(database, ["a"])
    with database.transaction() as session:
        control.cancel(session, lock_execution(session, run.execution_id), "cancel", Outbox())
    with database.transaction() as session:
        claimed, refused = claims.claim_many(session, [(run.ids["a"], 1)], "worker-1", 30, clock)
    assert claimed == []
    assert refused == {
        run.ids["a"]: f"Operation `{run.ids['a']}` attempt 1 is not waiting for a worker "
        "(it is pending, attempt 1): drop the message"
    }


def test_an_ended_execution_never_starts_again_except_by_resume(database: Database) -> None:
    run = new_run(database, [])  # (nothing to run: it ends as it starts)
    assert execution_status(database, run) == ("terminated", "")
    with database.transaction() as session:
        execution = lock_execution(session, run.execution_id)
        with pytest.raises(Conflict) as refused:
            executions.transition(session, execution, executions.STARTED)
    assert str(refused.value) == (
        f"Execution `{run.execution_id}` cannot go from `terminated` to `started`"
    )
