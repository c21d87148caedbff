"""The worker's settings, read from the QD_ environment without the API's settings class.

A worker needs QD_WORKER_TOKEN (or QD_SECRET_KEY to derive it), QD_API_URL and
QD_BROKER_URL: never the database. In embedded mode `serve` hands it the token, so it never
reads the data directory's secrets.json.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wire import derive_worker_token

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class WorkerSettingsError(Exception):
    """A worker setting is missing or invalid; the message names it."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    api_url: str = "http://127.0.0.1:8100"
    broker_url: str = ""
    worker_token: str = ""
    secret_key: str = ""
    data_dir: Path = Path(".quarterdeck")
    lease_seconds: float = 30.0
    log_level: str = "INFO"
    # `text` or `json` (one JSON object per line).
    log_format: str = "text"
    # How long a starting worker waits for the broker and the API to answer.
    startup_wait_seconds: float = 30.0
    # Workers running as root start operation processes as this unprivileged user.
    operation_user: str = "quarterdeck-op"
    # Names or patterns (AWS_*) of worker environment variables operations also get.
    operation_env: str = ""
    # The interpreter of runners, Python scripts and new plugin venvs (default: the worker's).
    operation_python: str = ""

    @property
    def resolved_worker_token(self) -> str:
        if self.worker_token:
            return self.worker_token
        if not self.secret_key:
            raise WorkerSettingsError(
                "invalid setting QD_WORKER_TOKEN: unset, and there is no QD_SECRET_KEY to "
                "derive it from"
            )
        return derive_worker_token(self.secret_key)

    @property
    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"redis+socket://{(self.data_dir / 'redis.sock').resolve()}"


def load_worker_settings(environ: Mapping[str, str] | None = None) -> WorkerSettings:
    """Read the worker's QD_ settings (os.environ unless given); a bad one raises
    WorkerSettingsError naming it."""
    env = os.environ if environ is None else environ
    defaults = WorkerSettings()

    def text(name: str, default: str) -> str:
        return env.get(f"QD_{name.upper()}", default)

    lease_text = text("lease_seconds", str(defaults.lease_seconds))
    try:
        lease = float(lease_text)
    except ValueError:
        lease = -1.0
    if not lease > 0:
        raise WorkerSettingsError(
            f"invalid setting QD_LEASE_SECONDS: {lease_text!r} is not a number above 0"
        )
    level = text("log_level", defaults.log_level).upper()
    if level not in _LOG_LEVELS:
        raise WorkerSettingsError(
            f"invalid setting QD_LOG_LEVEL: must be one of {', '.join(_LOG_LEVELS)}"
        )
    log_format = text("log_format", defaults.log_format).lower()
    if log_format not in ("text", "json"):
        raise WorkerSettingsError("invalid setting QD_LOG_FORMAT: must be text or json")
    wait_text = text("startup_wait_seconds", str(defaults.startup_wait_seconds))
    try:
        wait = float(wait_text)
    except ValueError:
        wait = -1.0
    if not wait >= 0:
        raise WorkerSettingsError(
            f"invalid setting QD_STARTUP_WAIT_SECONDS: {wait_text!r} is not a number of 0 or more"
        )
    user = text("operation_user", defaults.operation_user)
    if user and (user.startswith("-") or not user.replace("-", "").replace("_", "").isalnum()):
        raise WorkerSettingsError(
            "invalid setting QD_OPERATION_USER: must be a user name (letters, digits, - and _)"
        )
    return WorkerSettings(
        api_url=text("api_url", defaults.api_url),
        broker_url=text("broker_url", defaults.broker_url),
        worker_token=text("worker_token", ""),
        secret_key=text("secret_key", ""),
        data_dir=Path(text("data_dir", str(defaults.data_dir))),
        lease_seconds=lease,
        log_level=level,
        log_format=log_format,
        startup_wait_seconds=wait,
        operation_user=user,
        operation_env=text("operation_env", ""),
        operation_python=text("operation_python", ""),
    )
