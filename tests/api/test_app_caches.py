"""Caches belong to one application (or one database), never to the process."""

from __future__ import annotations

from pathlib import Path

from manager.db.engine import Database
from manager.main import create_app
from manager.security import VerifiedPasswords, hash_password
from manager.settings import Settings


def test_two_apps_share_no_cache(settings: Settings) -> None:
    first, second = (
        create_app(settings, run_watchdog=False),
        create_app(settings, run_watchdog=False),
    )
    assert first.state.callers is not second.state.callers
    assert first.state.verified_passwords is not second.state.verified_passwords


def test_two_databases_share_no_deployment_ids(tmp_path: Path) -> None:
    first = Database(f"sqlite:///{tmp_path / 'first.db'}")
    second = Database(f"sqlite:///{tmp_path / 'second.db'}")
    try:
        with first.session() as a, first.session(write=False) as b, second.session() as c:
            assert a.info["qd_deployment_ids"] is b.info["qd_deployment_ids"]
            assert a.info["qd_deployment_ids"] is not c.info["qd_deployment_ids"]
    finally:
        first.dispose()
        second.dispose()


def test_a_remembered_password_is_only_the_right_one() -> None:
    verified = VerifiedPasswords()
    stored = hash_password("right")
    assert verified.verify(stored, "right")
    assert verified.verify(stored, "right")  # remembered
    assert not verified.verify(stored, "wrong")
    assert not VerifiedPasswords().verify(hash_password("other"), "right")
