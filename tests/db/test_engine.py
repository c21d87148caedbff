"""Database.read_row: one statement outside any transaction, surviving a dropped connection."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select, text

from manager.db import Tenant
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
    pid = database.read_row(one, {})
    assert pid is not None
    # The pooled connection's server process goes, as on a server restart or a failover.
    with database.transaction() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid["pid"]})
    again = database.read_row(one, {})
    assert again is not None and again["pid"] != pid["pid"]
