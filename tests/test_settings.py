"""Settings: QD_ names, refused bad values, secrets generated once and kept private."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from manager.settings import SECRETS_FILE, SettingsError, ensure_secrets, load_settings


def test_defaults_follow_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QD_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'quarterdeck.db'}"
    assert settings.resolved_broker_url == f"redis+socket://{tmp_path / 'data' / 'redis.sock'}"
    assert settings.admin_username == "admin"


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QD_DATABASE_URL", "mysql://somewhere/db")
    monkeypatch.setenv("QD_TASK_RETRIES", "many")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "QD_DATABASE_URL: Value error, must be a sqlite:// or postgresql:// URL" in message
    assert "QD_TASK_RETRIES" in message


def test_secrets_are_generated_once_with_0600(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = ensure_secrets(settings)
    assert first.admin_password and len(first.admin_password) >= 12
    path = tmp_path / SECRETS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["admin_password"] == settings.admin_password == first.admin_password
    assert settings.secret_key == stored["secret_key"]

    again = load_settings(data_dir=tmp_path)
    second = ensure_secrets(again)
    assert second.admin_password is None  # not generated, so not shown again
    assert again.admin_password == settings.admin_password
    assert again.secret_key == settings.secret_key


def test_explicit_secrets_win_and_are_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QD_ADMIN_PASSWORD", "operator-chosen")
    monkeypatch.setenv("QD_SECRET_KEY", "k" * 40)
    settings = load_settings(data_dir=tmp_path)
    assert ensure_secrets(settings).admin_password is None
    assert settings.admin_password == "operator-chosen"
    assert settings.secret_key == "k" * 40
    assert "operator-chosen" not in (tmp_path / SECRETS_FILE).read_text()
