"""The worker's own settings: read from QD_ variables without the API's settings class."""

from __future__ import annotations

from pathlib import Path

import pytest

from manager.settings import Settings
from workers.settings import WorkerSettingsError, load_worker_settings


def test_the_worker_reads_only_its_qd_settings() -> None:
    settings = load_worker_settings(
        {
            "QD_API_URL": "http://api:8100",
            "QD_BROKER_URL": "redis://broker:6379/0",
            "QD_WORKER_TOKEN": "token",
            "QD_DATA_DIR": "/srv/qd",
            "QD_LEASE_SECONDS": "12.5",
            "QD_LOG_LEVEL": "debug",
            "QD_OPERATION_USER": "",
            "QD_DATABASE_URL": "postgresql://ignored",
        }
    )
    assert (settings.api_url, settings.resolved_broker_url) == (
        "http://api:8100",
        "redis://broker:6379/0",
    )
    assert (settings.resolved_worker_token, settings.data_dir) == ("token", Path("/srv/qd"))
    assert (settings.lease_seconds, settings.log_level, settings.operation_user) == (
        12.5,
        "DEBUG",
        "",
    )


def test_a_token_derived_from_the_secret_key_is_the_apis() -> None:
    worker = load_worker_settings({"QD_SECRET_KEY": "k" * 32})
    assert worker.resolved_worker_token == Settings(secret_key="k" * 32).resolved_worker_token


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {},
            "invalid setting QD_WORKER_TOKEN: unset, and there is no QD_SECRET_KEY to derive "
            "it from",
        ),
        (
            {"QD_WORKER_TOKEN": "t", "QD_LEASE_SECONDS": "soon"},
            "invalid setting QD_LEASE_SECONDS: 'soon' is not a number above 0",
        ),
        (
            {"QD_WORKER_TOKEN": "t", "QD_LOG_LEVEL": "loud"},
            "invalid setting QD_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            {"QD_WORKER_TOKEN": "t", "QD_OPERATION_USER": "-rf"},
            "invalid setting QD_OPERATION_USER: must be a user name (letters, digits, - and _)",
        ),
    ],
)
def test_a_bad_worker_setting_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(WorkerSettingsError) as refused:
        load_worker_settings(environ).resolved_worker_token  # noqa: B018
    assert str(refused.value) == message
