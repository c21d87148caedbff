"""The migrations and the models agree, and migrations go both ways, on every back end."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from manager.db import Base
from manager.db.engine import create_db_engine
from manager.db.migrate import downgrade, upgrade


def _diff(url: str) -> list[object]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_autogenerate_finds_no_difference(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert _diff(empty_database_url) == []


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert _tables(empty_database_url) == set(Base.metadata.tables)
    downgrade(empty_database_url, "base")
    assert _tables(empty_database_url) == set()
    upgrade(empty_database_url)
    assert _tables(empty_database_url) == set(Base.metadata.tables)
    assert _diff(empty_database_url) == []


def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    upgrade(empty_database_url)
    assert _diff(empty_database_url) == []
