"""The `quarterdeck` command's database and user commands, run as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from manager import __version__
from manager.db import User
from manager.db.engine import Database
from manager.security import verify_password
from tests.support import without_settings


def run(
    *args: str, data_dir: Path, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = without_settings()
    env["QD_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "manager.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        input=input_text,
        timeout=60,
    )


def test_db_upgrade_then_users_create(tmp_path: Path) -> None:
    upgraded = run("db", "upgrade", data_dir=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    created = run(
        "users",
        "create",
        "alice",
        "--password",
        "s3cret-pass",
        "--role",
        "viewer",
        data_dir=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert "s3cret-pass" not in created.stdout + created.stderr

    database = Database(f"sqlite:///{tmp_path / 'quarterdeck.db'}")
    try:
        with database.session() as session:
            user = session.scalar(select(User).where(User.username == "alice"))
            assert user is not None
            assert user.password_hash.startswith("$argon2")
            assert verify_password(user.password_hash, "s3cret-pass")
            assert [(m.tenant.name, m.role) for m in user.memberships] == [
                ("default_tenant", "viewer")
            ]
    finally:
        database.dispose()

    again = run("users", "create", "alice", "--password", "x", data_dir=tmp_path)
    assert again.returncode == 1
    assert "User `alice` already exists" in again.stderr


def test_bad_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    env_run = subprocess.run(
        [sys.executable, "-m", "manager.cli", "db", "upgrade"],
        env={**os.environ, "QD_DATA_DIR": str(tmp_path), "QD_BROKER_URL": "amqp://x"},
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert env_run.returncode == 2
    assert "QD_BROKER_URL" in env_run.stderr


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "manager.cli", "--version"],
        env=without_settings(),
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"quarterdeck {__version__}"


def test_users_create_from_stdin_then_list(tmp_path: Path) -> None:
    assert run("db", "upgrade", data_dir=tmp_path).returncode == 0
    created = run(
        "users",
        "create",
        "bob",
        "--password-stdin",
        "--role",
        "manager",
        data_dir=tmp_path,
        input_text="piped-pass-123\n",
    )
    assert created.returncode == 0, created.stderr
    assert "piped-pass-123" not in created.stdout + created.stderr
    database = Database(f"sqlite:///{tmp_path / 'quarterdeck.db'}")
    try:
        with database.session() as session:
            user = session.scalar(select(User).where(User.username == "bob"))
            assert user is not None and verify_password(user.password_hash, "piped-pass-123")
    finally:
        database.dispose()

    empty = run("users", "create", "carol", "--password-stdin", data_dir=tmp_path, input_text="")
    assert empty.returncode == 2 and "empty password" in empty.stderr

    listed = run("users", "list", data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["USERNAME", "ROLE", "STATE", "TENANTS"]
    assert [row.split() for row in rows] == [["bob", "default", "active", "default_tenant:manager"]]
    assert "hash" not in listed.stdout and "argon2" not in listed.stdout


def test_db_current_says_whether_the_database_is_up_to_date(tmp_path: Path) -> None:
    fresh = run("db", "current", data_dir=tmp_path)
    assert fresh.returncode == 1
    assert "current: (none: never migrated)" in fresh.stdout
    assert "quarterdeck db upgrade" in fresh.stderr
    assert run("db", "upgrade", data_dir=tmp_path).returncode == 0
    current = run("db", "current", data_dir=tmp_path)
    assert current.returncode == 0, current.stderr
    lines = dict(line.split(":", 1) for line in current.stdout.splitlines())
    assert lines["current"].strip() == lines["head"].strip() != ""
    assert "up to date" in current.stderr
