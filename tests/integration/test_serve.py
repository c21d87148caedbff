"""`quarterdeck serve` on a fresh data directory: real Redis, API, worker, supervisor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import (
    alive,
    command_line,
    descendants,
    free_port,
    kill_tree,
    wait_for_http,
    wait_until,
    without_settings,
)
from workers.app import create_celery

pytestmark = pytest.mark.slow


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    log: Path

    @property
    def credentials(self) -> tuple[str, str]:
        stored = json.loads((self.data_dir / "secrets.json").read_text())
        return "admin", stored["admin_password"]

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout: float = 120) -> httpx.Response:
        deadline = time.monotonic() + timeout
        wait_until(lambda: (self.data_dir / "secrets.json").exists(), timeout)
        remaining = max(0.1, deadline - time.monotonic())
        return wait_for_http(f"{self.url}/api/v3.1/status", remaining, auth=self.credentials)


def start_serve(data_dir: Path, log: Path) -> Served:
    port = free_port()
    env = without_settings()
    handle = log.open("a")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "manager.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    return Served(process, f"http://127.0.0.1:{port}", data_dir, log)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = start_serve(tmp_path / "data", tmp_path / "serve.log")
    try:
        yield server
    finally:
        if server.process.poll() is None:
            kill_tree(server.process.pid)
            server.process.wait()


def worker_answers(broker_url: str) -> bool:
    celery = create_celery(broker_url)
    try:
        return bool(celery.control.ping(timeout=1.0))
    finally:
        celery.close()


def test_serve_runs_everything_and_stops_on_sigterm(served: Served) -> None:
    served.wait_ready()
    # OK once the worker announced itself too.
    wait_until(
        lambda: (
            httpx.get(f"{served.url}/api/v3.1/status", auth=served.credentials).json()["status"]
            == "OK"
        ),
        60,
        what="status OK with the embedded worker",
    )
    assert httpx.get(f"{served.url}/api/v3.1/status").status_code == 401

    # The admin password generated on first start is printed, once.
    assert f"admin / {served.credentials[1]}" in served.output()
    assert (served.data_dir / "quarterdeck.db").exists()

    # The worker consumes from the private Redis on the data directory's unix socket.
    broker = f"redis+socket://{served.data_dir / 'redis.sock'}"
    wait_until(lambda: worker_answers(broker), 20)

    tree = descendants(served.process.pid)
    commands = " | ".join(command_line(pid) for pid in tree)
    assert "redis-server" in commands and " api " in commands and " worker " in commands

    served.process.send_signal(signal.SIGTERM)
    served.process.wait(timeout=10)
    wait_until(lambda: not any(alive(pid) for pid in tree), 2)


def test_a_dead_child_is_restarted_and_logged(served: Served) -> None:
    served.wait_ready()
    api = next(pid for pid in descendants(served.process.pid) if " api " in command_line(pid))
    os.kill(api, signal.SIGKILL)
    wait_until(lambda: "api exited with code -9; restarting" in served.output(), 10)
    wait_for_http(f"{served.url}/api/v3.1/status", 120, auth=served.credentials)
    new_api = next(pid for pid in descendants(served.process.pid) if " api " in command_line(pid))
    assert new_api != api


def test_second_start_reuses_secrets_and_prints_no_password(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_serve(data, tmp_path / "first.log")
    try:
        first.wait_ready()
        credentials = first.credentials
    finally:
        first.process.send_signal(signal.SIGINT)
        first.process.wait(timeout=10)
    second = start_serve(data, tmp_path / "second.log")
    try:
        wait_for_http(f"{second.url}/api/v3.1/status", 120, auth=credentials)
        assert "shown once" not in second.output()
        assert credentials[1] not in second.output()
        # It says where the generated password is kept instead.
        assert f"kept in {(data / 'secrets.json').resolve()} (admin_password)" in second.output()
    finally:
        second.process.send_signal(signal.SIGTERM)
        second.process.wait(timeout=10)
