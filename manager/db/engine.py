"""Engines and sessions for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Executable, RowMapping, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none)."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_db_engine(url: str, *, immediate: bool = False, **kwargs: Any) -> Engine:
    """An engine for `url`; on SQLite, `immediate` makes every transaction take the write lock.

    SQLite upgrades a deferred read transaction to a write lazily, and that upgrade fails at
    once ("database is locked") when another writer holds the lock, whatever the busy
    timeout. Writers therefore begin with BEGIN IMMEDIATE and wait their turn instead.
    """
    url = normalize_url(url)
    if not is_sqlite(url):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
        raise ValueError("an in-memory SQLite database cannot be shared between processes")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=QueuePool,
        pool_size=5,
        max_overflow=10,
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The engines and session factories of one database URL."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = create_db_engine(self.url)
        self.write_engine = (
            create_db_engine(self.url, immediate=True) if is_sqlite(self.url) else self.engine
        )
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        # PostgreSQL: connections outside any transaction and never pinged, for read_row.
        # (SQLite's BEGIN and ROLLBACK cost no round trip: it reads with the read engine.)
        self.single_read_engine = (
            self.engine
            if is_sqlite(self.url)
            else create_db_engine(
                self.url,
                isolation_level="AUTOCOMMIT",
                pool_pre_ping=False,
                # As many as the threads reading at once need; none opened and closed
                # again under load (a PostgreSQL connection is a process to start).
                pool_size=8,
                max_overflow=0,
            )
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def factories(self) -> list[sessionmaker[Session]]:
        """Both session factories, for listeners of session events."""
        return [self._read, self._write]

    def session(self, *, write: bool = True) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on error."""
        with self.session(write=write) as session, session.begin():
            yield session

    def read_row(self, stmt: Executable, params: dict[str, Any]) -> RowMapping | None:
        """The first row of one read statement, run outside any transaction.

        For what clients poll: on PostgreSQL one round trip instead of four (ping, BEGIN,
        the statement, ROLLBACK). A connection the server dropped is noticed by the
        statement itself instead of a ping, and the statement runs once more on a new one.
        """
        for attempt in (1, 2):
            try:
                with self.single_read_engine.connect() as connection:
                    return connection.execute(stmt, params).mappings().first()
            except DBAPIError as error:
                if attempt == 2 or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        for engine in {self.engine, self.write_engine, self.single_read_engine}:
            engine.dispose()
