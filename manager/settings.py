"""Typed settings read from the environment (prefix QD_), with first-start secrets."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wire import derive_worker_token

SECRETS_FILE = "secrets.json"


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QD_", extra="ignore")

    data_dir: Path = Path(".quarterdeck")
    database_url: str = ""
    broker_url: str = ""
    api_url: str = "http://127.0.0.1:8100"
    secret_key: str = ""
    # What workers present to the API; derived from the secret key when unset.
    worker_token: str = ""
    admin_username: str = "admin"
    admin_password: str = ""
    debug: bool = False
    log_level: str = "INFO"
    # `text` (one line per record) or `json` (one JSON object per line).
    log_format: str = "text"
    # What `/metrics` wants as `Authorization: Bearer ...`; empty: /metrics is refused.
    metrics_token: str = ""
    # How long a starting process waits for the database and the broker to answer.
    startup_wait_seconds: float = Field(default=30.0, ge=0)
    # Upload limits: an archive above this many bytes, or expanding past the
    # unpacked limit, is refused before anything is written.
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    # What one blueprint's (or plugin's) archive may unpack to, counted by bytes written.
    # Above the upload limit, so an archive of already-compressed files always fits; a
    # blueprint is YAML, scripts and small resources, and every tenant's live on one disk.
    max_unpacked_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    # Unpacked bytes per archive byte, per member and overall (past the first MiB): text
    # compresses 3-10 times, wheels not at all; a compression bomb a thousand times.
    max_compression_ratio: float = Field(default=100, ge=1)
    # Every request body but the two uploads' (blueprints, plugins): JSON inputs, searches,
    # worker reports. Refused (413) before it is parsed.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # Execution defaults (Cloudify's manager-wide `task_retries`/`task_retry_interval`).
    task_retries: int = Field(default=60, ge=-1)
    task_retry_interval: float = Field(default=15.0, ge=0)
    # Lease and redelivery windows of the watchdog, seconds.
    lease_seconds: float = Field(default=30.0, gt=0)
    redelivery_seconds: float = Field(default=60.0, gt=0)
    watchdog_interval: float = Field(default=2.0, gt=0)
    # How long an API process trusts a checked credential (0: never). Changes made through
    # this process apply at once; those made elsewhere (another API process, the CLI) within
    # this many seconds.
    caller_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    # Failed password checks allowed per user name and per client address within the window
    # (0: no such limit); past them, password checks are refused (429) until the window ends.
    login_failures_per_user: int = Field(default=10, ge=0)
    login_failures_per_address: int = Field(default=50, ge=0)
    login_failure_window_seconds: float = Field(default=300.0, gt=0, le=86400)
    # Workers running as root start operation processes as this unprivileged user (created
    # if missing); empty: as the worker's own user, which can read the data directory.
    operation_user: str = "quarterdeck-op"
    # Names or patterns (AWS_*) of worker environment variables operations also get.
    operation_env: str = ""
    # The interpreter of runners, Python scripts and new plugin venvs (default: the worker's).
    operation_python: str = ""
    # Live event streams: how often a stream reads the database even when Redis told it
    # nothing (a lost message costs at most this much delay), and how long it stays silent
    # before sending a `: ping` comment that keeps proxies from closing it.
    events_poll_seconds: float = Field(default=5.0, gt=0, le=300)
    events_heartbeat_seconds: float = Field(default=15.0, gt=0, le=3600)
    # A stream open this long closes (without its end message); clients resume it with
    # Last-Event-ID, and so authenticate again (a revoked token stops streaming).
    events_stream_seconds: float = Field(default=900.0, gt=0)
    # Browser origins allowed to call the API from their pages (CORS), comma-separated, or
    # `*`; empty (the default): no CORS headers, so only same-origin pages can read answers.
    cors_origins: str = ""

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "redis+socket://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or redis+socket:// URL")
        return value

    @field_validator("operation_user")
    @classmethod
    def _plain_user_name(cls, value: str) -> str:
        if value and (
            value.startswith("-") or not value.replace("-", "").replace("_", "").isalnum()
        ):
            raise ValueError("must be a user name (letters, digits, - and _)")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value.lower() not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value.lower()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'quarterdeck.db').resolve()}"

    @property
    def resolved_worker_token(self) -> str:
        if self.worker_token:
            return self.worker_token
        if not self.secret_key:
            raise SettingsError(
                "invalid setting QD_WORKER_TOKEN: unset, and there is no QD_SECRET_KEY to "
                "derive it from"
            )
        return derive_worker_token(self.secret_key)

    @property
    def redis_socket(self) -> Path:
        """The unix socket of the embedded Redis server."""
        return (self.data_dir / "redis.sock").resolve()

    @property
    def resolved_broker_url(self) -> str:
        if self.broker_url:
            return self.broker_url
        return f"redis+socket://{self.redis_socket}"

    @property
    def files_dir(self) -> Path:
        """Where uploaded blueprints, plugins and deployment files live."""
        return (self.data_dir / "files").resolve()


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning a validation failure into one message per bad setting."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "QD_" + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid setting " + "; ".join(problems)) from None


@dataclass(frozen=True)
class FirstStart:
    """What the first start generated; the password is shown to the operator once."""

    admin_password: str | None


def ensure_secrets(settings: Settings) -> FirstStart:
    """Fill unset secrets from the data directory, generating them on first start.

    The generated values are written with 0600 permissions before anyone reads them, so a
    crash between generating and storing cannot leave a password nobody knows.
    """
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = settings.data_dir / SECRETS_FILE
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    generated_password = None
    changed = False
    if not stored.get("secret_key"):
        stored["secret_key"] = secrets.token_urlsafe(32)
        changed = True
    if not stored.get("admin_password") and not settings.admin_password:
        stored["admin_password"] = generated_password = secrets.token_urlsafe(12)
        changed = True
    if changed:
        _write_private(path, json.dumps(stored, indent=2))
    if not settings.secret_key:
        settings.secret_key = stored["secret_key"]
    if not settings.admin_password:
        settings.admin_password = stored["admin_password"]
    return FirstStart(admin_password=generated_password)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def private_sqlite_files(settings: Settings) -> None:
    """The SQLite file (and its -wal/-shm, which SQLite creates with the file's mode) is
    readable by its owner only: it holds password hashes and encrypted secrets."""
    url = settings.resolved_database_url
    if not url.startswith("sqlite:///"):
        return
    database = Path(url.removeprefix("sqlite:///"))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            os.chmod(path, 0o600)
        except FileNotFoundError:
            pass
