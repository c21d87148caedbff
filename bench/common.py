"""What several benches share: the local PostgreSQL's URL, whether a local port answers, the
generated blueprint's files, and an in-process API on a fresh database."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

from fastapi import FastAPI

from bench.engine_blueprint import generate
from manager.db import migrate
from manager.db.engine import Database
from manager.main import create_app
from manager.services.identity import bootstrap
from manager.settings import Settings

PG = "postgresql://postgres@127.0.0.1:5432/test"


def answers(port: int) -> bool:
    """Whether something listens on that local port (PostgreSQL, Redis)."""
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def generated_files(root: Path, nodes: int) -> tuple[str, dict[str, str]]:
    """bench/engine_blueprint.py's blueprint of `nodes` templates, written under `root`:
    (its main file's name, its files by path)."""
    main = generate(root, nodes)
    files = {
        str(path.relative_to(main.parent)): path.read_text()
        for path in main.parent.rglob("*")
        if path.is_file()
    }
    return main.name, files


def in_process_app(work: Path, url: str, broker_url: str) -> tuple[FastAPI, Settings]:
    """An API (no watchdog) on the database at `url`, migrated, with an `admin` user whose
    password is `settings.admin_password`."""
    migrate.upgrade(url)
    password = secrets.token_urlsafe(12)
    database = Database(url)
    try:
        with database.transaction() as session:
            bootstrap(session, "admin", password)
    finally:
        database.dispose()
    settings = Settings(
        data_dir=work,
        database_url=url,
        broker_url=broker_url,
        secret_key=secrets.token_urlsafe(32),
        admin_username="admin",
        admin_password=password,
    )
    return create_app(settings, run_watchdog=False), settings
