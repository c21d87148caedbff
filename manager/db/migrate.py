"""Applying and checking Alembic migrations from code (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url)
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def revisions(url: str) -> tuple[list[str], list[str]]:
    """(the revisions the database is at, the heads of the migrations shipped): equal when
    the database is up to date, the first empty when it was never migrated."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from manager.db.engine import create_db_engine

    heads = list(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            current = list(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    return sorted(current), sorted(heads)
