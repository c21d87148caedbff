"""Start-up checks of `quarterdeck serve`, `api` and `worker`: is the port free, do the
database, the broker and (for workers) the API answer?

Each check raises `PreflightError` with one line naming the problem and the setting to
look at; the CLI prints that line and exits 2 instead of a traceback or a silent retry
loop. Checks that reach a service retry until `wait` seconds have passed, so processes
started together (compose, `serve`) may come up in any order.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")


class PreflightError(Exception):
    """A start-up check failed; the message is the one line the operator sees."""


def redact(url: str) -> str:
    """`url` without its password, fit for a message."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit(parts._replace(netloc=user + host))


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers add SQL, hints and links below)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0].strip()


def retrying(attempt: Callable[[], T], wait: float, interval: float = 0.5) -> T:
    """`attempt()`, called again on PreflightError until `wait` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return attempt()
        except PreflightError:
            if time.monotonic() + interval > deadline:
                raise
        time.sleep(interval)


def check_port(host: str, port: int) -> None:
    """Refuse to start when something already listens on host:port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn binds: a port in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PreflightError(
                    f"port {port} on {host} is already in use (another Quarterdeck?): "
                    "stop it or choose another --port"
                ) from None
            raise PreflightError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def check_database(url: str, wait: float) -> None:
    """Connect and run `SELECT 1` (QD_DATABASE_URL)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from manager.db.engine import create_db_engine

    def attempt() -> None:
        try:
            engine = create_db_engine(url)
        except Exception as exc:  # noqa: BLE001 - a malformed URL, a missing driver
            raise PreflightError(
                f"QD_DATABASE_URL={redact(url)} is not usable: {first_line(exc)}"
            ) from None
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise PreflightError(
                f"cannot reach the database at QD_DATABASE_URL={redact(url)}: {first_line(exc)}"
            ) from None
        finally:
            engine.dispose()

    retrying(attempt, wait)


def check_broker(url: str, wait: float) -> None:
    """PING the Redis server (QD_BROKER_URL)."""
    import redis

    from wire.presence import redis_client_url

    def attempt() -> None:
        try:
            client = redis.Redis.from_url(
                redis_client_url(url), socket_timeout=2, socket_connect_timeout=2
            )
            try:
                client.ping()
            finally:
                client.close()
        except (redis.RedisError, ValueError, OSError) as exc:
            raise PreflightError(
                f"cannot reach the broker at QD_BROKER_URL={redact(url)}: {first_line(exc)}"
            ) from None

    retrying(attempt, wait)
