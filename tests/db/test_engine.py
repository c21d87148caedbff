"""Database.read_row: one statement outside any transaction, surviving a dropped connection."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select, text

from manager.db import Execution, Tenant
from manager.db.engine import Database


def test_read_row_reads_one_row(database: Database) -> None:
    row = database.read_row(select(Tenant.name).where(Tenant.name == "nobody-has-this"), {})
    assert row is None
    with database.transaction() as session:
        session.add(Tenant(name="read-row-tenant"))
    stmt = select(Tenant.__table__).where(Tenant.name == bindparam("name"))
    row = database.read_row(stmt, {"name": "read-row-tenant"})
    assert row is not None and row["name"] == "read-row-tenant"


def test_read_row_runs_again_on_a_new_connection_when_the_server_dropped_one(
    database: Database,
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("a SQLite connection is a file; nothing drops it")
    one = select(text("pg_backend_pid() AS pid"))
    # The first read goes through SQLAlchemy; the second, on the driver's cursor, reuses
    # the same pooled connection.
    assert database.read_row(one, {}) is not None
    pid = database.read_row(one, {})
    assert pid is not None
    # The pooled connection's server process goes, as on a server restart or a failover.
    with database.transaction() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid["pid"]})
    again = database.read_row(one, {})
    assert again is not None and again["pid"] != pid["pid"]


def test_a_statement_read_again_gives_the_same_typed_row(database: Database) -> None:
    """From its second read on PostgreSQL, a statement runs on the driver's cursor
    (Database._driver_read); its row must be what SQLAlchemy gives: the same keys, and
    values converted by the same types (JSON, booleans, timestamps, nulls)."""
    execution_id = f"typed-row-{uuid.uuid4().hex[:8]}"
    with database.transaction() as session:
        tenant = Tenant(name=execution_id)
        session.add(tenant)
        session.flush()
        session.add(
            Execution(
                id=execution_id,
                tenant_pk=tenant.pk,
                workflow_id="install",
                parameters={"a": [1, True, None], "b": {"c": "d"}},
                is_dry_run=True,
                started_at=datetime(2026, 12, 6, 20, 30, 1, 250000, tzinfo=UTC),
            )
        )
    stmt = select(Execution.__table__).where(Execution.id == bindparam("execution_id"))
    reads = [database.read_row(stmt, {"execution_id": execution_id}) for _ in range(3)]
    first = dict(reads[0] or {})
    assert first["parameters"] == {"a": [1, True, None], "b": {"c": "d"}}
    assert first["is_dry_run"] is True and first["ended_at"] is None
    assert first["started_at"] == datetime(2026, 12, 6, 20, 30, 1, 250000, tzinfo=UTC)
    for again in reads[1:]:
        assert dict(again or {}) == first
        assert (again or {})["started_at"].tzinfo is UTC  # UtcDateTime's result processor
        assert [type(value) for value in (again or {}).values()] == [
            type(value) for value in first.values()
        ]
