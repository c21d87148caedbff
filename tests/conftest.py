"""Shared fixtures: a real database (SQLite, and PostgreSQL when configured) and real Redis.

QD_TEST_DATABASE_URL (a PostgreSQL server URL) adds PostgreSQL to every database-backed
test; QD_TEST_REDIS_URL points the tests at a Redis server instead of a private one
started from the same binary `quarterdeck serve` uses.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from manager.db import migrate
from manager.db.engine import Database, normalize_url
from manager.embedded import start_redis

# Tests run as root here and on CI, with an interpreter under /root and temporary
# directories other users cannot pass through, where a worker's operation user could not run
# anything: operations run as the worker's own user, except in the tests of that isolation
# (tests/integration/test_operation_isolation.py), which set up what the operation user needs.
os.environ.setdefault("QD_OPERATION_USER", "")
POSTGRES_URL = os.environ.get("QD_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("QD_TEST_REDIS_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


def pytest_report_header() -> list[str]:
    return [
        f"quarterdeck databases: {', '.join(BACKENDS)}",
        f"quarterdeck redis: {REDIS_URL or 'private server (embedded mode binary)'}",
    ]


def _own_redis_database(url: str) -> str:
    """`url` with a database number of this test process's own.

    Under pytest-xdist, tests run in several processes at once, and stacks flush their Redis
    database when they start: process gwN uses the configured number plus N (modulo 16, the
    count a default Redis server has; addopts caps the processes at 4)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    first = int(parts.path.strip("/") or 0)
    number = (first + int(worker[2:])) % 16
    return urlunsplit(parts._replace(path=f"/{number}"))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if REDIS_URL:
        yield _own_redis_database(REDIS_URL)
        return
    process, sock = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis+socket://{sock}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def _create_postgres_database() -> tuple[str, str]:
    name = f"qd_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(normalize_url(POSTGRES_URL)).set(database=name)
    return url.render_as_string(hide_password=False), name


def _drop_postgres_database(name: str) -> None:
    admin = create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_database_url(backend: str, directory: Path) -> tuple[str, str | None]:
    """An empty database of `backend`; the second value names a PostgreSQL one to drop."""
    if backend == "sqlite":
        return f"sqlite:///{directory / f'qd-{uuid.uuid4().hex[:8]}.db'}", None
    url, name = _create_postgres_database()
    return url, name


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables, on each configured back end."""
    url, name = fresh_database_url(request.param, tmp_path)
    yield url
    if name:
        _drop_postgres_database(name)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database shared by a session's tests; tests use unique names in it."""
    url, name = fresh_database_url(request.param, tmp_path_factory.mktemp("db"))
    migrate.upgrade(url)
    yield url
    if name:
        _drop_postgres_database(name)


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()
