"""The operation transition table and its one write path, against a real database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from manager.db import Execution, Operation, Tenant
from manager.db.engine import Database
from manager.orchestration.operation_states import (
    CANCELLED,
    FAILED,
    OPERATIONS,
    PENDING,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TRANSITIONS,
    move,
    sources,
)


def test_the_table_names_every_state_and_ended_ones_only_resume() -> None:
    states = {PENDING, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED}
    assert set(TRANSITIONS) == states
    assert all(targets <= states for targets in TRANSITIONS.values())
    assert sources(RUNNING) == {QUEUED}
    assert sources(SUCCEEDED) == {PENDING, RUNNING}
    assert TRANSITIONS[SUCCEEDED] == frozenset()
    assert TRANSITIONS[FAILED] == TRANSITIONS[CANCELLED] == {QUEUED}


def _operations(database: Database, states: list[str]) -> list[str]:
    """Operations of a new execution, one in each of `states`; returns their ids."""
    name = f"states-{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in states]
    with database.transaction() as session:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.flush()
        session.add(Execution(id=name, tenant_pk=tenant.pk, workflow_id="install"))
        session.flush()
        for operation_id, state in zip(ids, states, strict=True):
            session.add(
                Operation(
                    id=operation_id, execution_id=name, type="operation", name="op", state=state
                )
            )
    return ids


def test_a_write_changes_only_rows_in_a_state_allowed_to_go_there(database: Database) -> None:
    ids = _operations(database, [RUNNING, FAILED, SUCCEEDED, QUEUED])
    with database.transaction() as session:
        moved = move(session, SUCCEEDED, OPERATIONS.c.id.in_(ids), only_from=(RUNNING,))
        assert moved.rowcount == 1
        # A late report of a success cannot resurrect what failed, nor touch what ended.
        assert move(session, SUCCEEDED, OPERATIONS.c.id.in_(ids[1:3])).rowcount == 0
    with database.transaction() as session:
        rows = session.execute(select(Operation.id, Operation.state).where(Operation.id.in_(ids)))
        states = {row.id: row.state for row in rows}
    assert [states[i] for i in ids] == [SUCCEEDED, FAILED, SUCCEEDED, QUEUED]


def test_a_write_from_a_state_the_table_forbids_is_refused(database: Database) -> None:
    (operation_id,) = _operations(database, [SUCCEEDED])
    with database.transaction() as session, pytest.raises(ValueError) as refused:
        move(session, RUNNING, OPERATIONS.c.id == operation_id, only_from=(SUCCEEDED,))
    assert str(refused.value) == "Operations cannot go from ['succeeded'] to `running`"
