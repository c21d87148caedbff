"""The plans PostgreSQL makes for what a report runs: rows picked by id are found by id.

A report's statements pick operations and node instances by their ids, and also check their
state, execution or deployment. Given the chance, PostgreSQL's planner takes the index of that
other column whenever its statistics rate the value rare, which they do for what was just
written (a new execution, a state many rows just entered, a table not analyzed yet), and then
reads every row of the execution, state or deployment for each statement (see
`manager.db.base.unindexed`). These tests capture every statement a claim and a report run,
on a fresh database and on an analyzed one, and look at PostgreSQL's plan for each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from manager.db import migrate
from manager.db.engine import Database
from manager.orchestration import claims, results
from manager.orchestration.outbox import Outbox
from manager.orchestration.results import ReportedResult, WorkerReport
from tests.orchestration.support import ManualClock, new_run

# Indexes of another column than the id, which a statement picking rows by id must not use.
OTHER_COLUMN_INDEXES = (
    "ix_operations_state_lease",
    "ix_operations_execution_state",
    "ix_node_instances_deployment_node",
)


@pytest.fixture
def fresh(empty_database_url: str) -> Iterator[Database]:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("about PostgreSQL's planner")
    migrate.upgrade(empty_database_url)
    database = Database(empty_database_url)
    yield database
    database.dispose()


def _by_id(statement: str) -> bool:
    """Does this statement pick operations or node instances by their ids?"""
    lowered = " ".join(statement.lower().split())
    return any(
        f"{table}.id in (" in lowered or f"{table}.id =" in lowered
        for table in ("operations", "node_instances")
    )


def _claim_and_report(database: Database, clock: ManualClock) -> list[tuple[str, Any]]:
    """Claim 40 operations of a new execution and report them, handing over more: every
    statement the two ran, with its parameters."""
    then = [{"state": "started", "message": "Node instance started"}]
    parallel = tuple(f"p{i}" for i in range(300))
    run = new_run(
        database,
        ["a", "b"],
        parallel=parallel,
        parameters={name: {"then": then} for name in parallel},
    )
    ran: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        ran.append((statement, parameters))

    engine = database.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with database.transaction() as session:
            items = [(run.ids[name], 1) for name in parallel[:40]]
            claimed, refused = claims.claim_many(session, items, "worker-1", 30, clock)
        assert len(claimed) == 40 and not refused
        batch = WorkerReport(
            results=[
                ReportedResult(
                    operation_id=each.row.id,
                    attempt=1,
                    outcome={"status": "succeeded"},
                    execution_id=run.execution_id,
                )
                for each in claimed
            ]
        )
        with database.transaction() as session:
            answers, handed = results.report_batch(
                session, batch, Outbox(), worker="worker-1", want=16, clock=clock
            )
        assert set(answers.values()) == {"applied"} and len(handed) == 16
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return ran


def _plans(database: Database, ran: list[tuple[str, Any]]) -> dict[str, str]:
    """PostgreSQL's plan of each statement that picks rows by id, by statement."""
    plans = {}
    with database.engine.connect() as connection:
        for statement, parameters in ran:
            if not _by_id(statement):
                continue
            lines = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars()
            plans[statement] = "\n".join(lines)
    return plans


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh", "analyzed"])
def test_a_report_finds_the_rows_it_names_by_their_ids(
    fresh: Database, clock: ManualClock, analyzed: bool
) -> None:
    if analyzed:
        _claim_and_report(fresh, clock)  # an earlier execution, which the statistics know
        with fresh.engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    plans = _plans(fresh, _claim_and_report(fresh, clock))
    assert len(plans) >= 5, plans  # (claims, the report's reads and writes)
    misled = {
        statement: plan
        for statement, plan in plans.items()
        if any(index in plan for index in OTHER_COLUMN_INDEXES)
    }
    assert not misled, "\n\n".join(f"{s}\n{p}" for s, p in misled.items())
