"""Engines and sessions for SQLite and PostgreSQL."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Dialect, Engine, Executable, Select, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.compiler import SQLCompiler

from wire import json_codec


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
    kwargs.setdefault("json_deserializer", json_codec.loads)
    if not is_sqlite(url):
        # psycopg takes the bytes as they are; SQLite's columns store text.
        kwargs.setdefault("json_serializer", json_codec.dumps_bytes)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
        raise ValueError("an in-memory SQLite database cannot be shared between processes")
    kwargs.setdefault("json_serializer", json_codec.dumps)
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


def watch_commits(
    factories: list[sessionmaker[Session]],
    key: str,
    *,
    note_flush: Callable[[Session, Any], None],
    note_statement: Callable[[Any], None],
    on_commit: Callable[[Any], None],
) -> None:
    """Hooks for a cache kept in step with what sessions of `factories` commit:
    `note_flush(session, flush_context)` and `note_statement(orm_execute_state)` record the
    changes they see under `session.info[key]`; after a commit, `on_commit(that record)` if
    there is one; a rollback forgets it."""

    def after_commit(session: Session) -> None:
        noted = session.info.pop(key, None)
        if noted:
            on_commit(noted)

    def after_rollback(session: Session) -> None:
        session.info.pop(key, None)

    for factory in factories:
        event.listen(factory, "after_flush", note_flush)
        event.listen(factory, "do_orm_execute", note_statement)
        event.listen(factory, "after_commit", after_commit)
        event.listen(factory, "after_rollback", after_rollback)


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
        # Events a transaction queues are numbered and stored just before it commits, by
        # listeners on this database's sessions only. (Imported here, not at the top:
        # event_store imports the models, which import this module.)
        from manager.db import event_store

        event_store.watch(self.factories)
        # PostgreSQL: connections outside any transaction and never pinged, for read_row.
        # (SQLite's BEGIN and ROLLBACK cost no round trip: it reads with the read engine.)
        self.single_read_engine = (
            self.engine
            if is_sqlite(self.url)
            else create_db_engine(
                self.url,
                isolation_level="AUTOCOMMIT",
                pool_pre_ping=False,
                # Nothing to reset: no transaction is ever open on them.
                pool_reset_on_return=None,
                # As many as the threads reading at once need; none opened and closed
                # again under load (a PostgreSQL connection is a process to start).
                pool_size=8,
                max_overflow=0,
            )
        )
        # PostgreSQL: by statement read_row ran, the keys SQLAlchemy gave its row, then
        # its _DriverRead (or None if it has none).
        self._driver_reads: weakref.WeakKeyDictionary[
            Select[Any], tuple[str, ...] | _DriverRead | None
        ] = weakref.WeakKeyDictionary()

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

    def read_row(self, stmt: Executable, params: dict[str, Any]) -> Mapping[Any, Any] | None:
        """The first row of one read statement, run outside any transaction.

        For what clients poll: on PostgreSQL one round trip instead of four (ping, BEGIN,
        the statement, ROLLBACK). A connection the server dropped is noticed by the
        statement itself instead of a ping, and the statement runs once more on a new one.

        On PostgreSQL a statement read before (one built once, as get_light's) runs on the
        driver's cursor (_DriverRead); on any error there it runs again as below, where
        SQLAlchemy reports what fails as it always does.
        """
        driver_read = self._driver_read(stmt)
        if driver_read is not None:
            try:
                return driver_read.run(self.single_read_engine, params)
            except self.single_read_engine.dialect.loaded_dbapi.Error:
                pass
        for attempt in (1, 2):
            try:
                with self.single_read_engine.connect() as connection:
                    result = connection.execute(stmt, params)
                    self._note_keys(stmt, tuple(result.keys()))
                    return result.mappings().first()
            except DBAPIError as error:
                if attempt == 2 or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def _note_keys(self, stmt: Executable, keys: tuple[str, ...]) -> None:
        if not is_sqlite(self.url) and isinstance(stmt, Select) and stmt not in self._driver_reads:
            self._driver_reads[stmt] = keys

    def _driver_read(self, stmt: Executable) -> _DriverRead | None:
        """The statement's _DriverRead from its second read on: the first, through
        SQLAlchemy, named the row's keys (and a statement built for a single request would
        cost a compilation each). None for a statement it cannot run (see _DriverRead.of)."""
        if not isinstance(stmt, Select):
            return None
        known = self._driver_reads.get(stmt)
        if isinstance(known, tuple):
            known = _DriverRead.of(stmt, self.single_read_engine.dialect, known)
            self._driver_reads[stmt] = known
        return known

    def dispose(self) -> None:
        for engine in {self.engine, self.write_engine, self.single_read_engine}:
            engine.dispose()


class _DriverRead:
    """A SELECT compiled once and run on the driver's cursor, its row keyed and typed as
    SQLAlchemy keys and types it (its keys, bind and result processors).

    What it skips costs more than the query: per read, SQLAlchemy computes the statement's
    cache key, builds an execution context and a result, and reads the cursor's
    description (a psycopg Column object for each of the 27 columns get_light reads).
    """

    def __init__(self, compiled: SQLCompiler, keys: tuple[str, ...], columns: Any) -> None:
        dialect = compiled.dialect
        self.compiled = compiled
        self.keys = keys
        self.bind_processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.bind_processors[name] = process
        self.result_processors: tuple[Callable[[Any], Any] | None, ...] = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )

    @classmethod
    def of(cls, stmt: Select[Any], dialect: Dialect, keys: tuple[str, ...]) -> _DriverRead | None:
        """None for a statement SQLAlchemy rewrites per execution (expanding IN lists,
        escaped names) or whose row is not its selected columns, one key each."""
        compiled = stmt.compile(dialect=dialect)
        columns = stmt.selected_columns
        if (
            not isinstance(compiled, SQLCompiler)
            or compiled.literal_execute_params
            or compiled.post_compile_params
            or compiled.escaped_bind_names
            or len(columns) != len(keys)
            or len(set(keys)) != len(keys)
        ):
            return None
        return cls(compiled, keys, columns)

    def run(self, engine: Engine, params: dict[str, Any]) -> dict[str, Any] | None:
        values = dict(self.compiled.construct_params(params))
        for name, process in self.bind_processors.items():
            values[name] = process(values[name])
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self.compiled.string, values)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except BaseException:
            # Whatever went wrong, the connection is not handed out again.
            connection.invalidate()
            raise
        finally:
            connection.close()
        if row is None:
            return None
        return {
            key: value if process is None else process(value)
            for key, process, value in zip(self.keys, self.result_processors, row, strict=True)
        }
