"""Production mode: `quarterdeck api` and `quarterdeck worker` on the configured database
(PostgreSQL when QD_TEST_DATABASE_URL is set) and Redis, as separate processes."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import (
    alive,
    descendants,
    free_port,
    kill_tree,
    wait_for_http,
    wait_until,
    without_settings,
)
from workers.app import create_celery

pytestmark = pytest.mark.slow


def test_api_and_worker_processes(database_url: str, redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    username, password = f"ops-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    env = without_settings()
    env.update(
        {
            "QD_DATA_DIR": str(tmp_path),
            "QD_DATABASE_URL": database_url,
            "QD_BROKER_URL": redis_url,
            "QD_SECRET_KEY": secrets.token_urlsafe(32),
            "QD_ADMIN_USERNAME": username,
            "QD_ADMIN_PASSWORD": password,
            "QD_API_URL": f"http://127.0.0.1:{port}",
            # The worker starts with the API and waits for it (a busy machine is slow).
            "QD_STARTUP_WAIT_SECONDS": "300",
        }
    )
    command = [sys.executable, "-m", "manager.cli"]
    log = (tmp_path / "processes.log").open("w")
    api = subprocess.Popen(
        [*command, "api", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    worker = subprocess.Popen(
        [*command, "worker", "--concurrency", "1", "--queues", f"central,test-{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v3.1/status"
        wait_for_http(url, 120, auth=(username, password))
        # OK once the worker, which waited for the API, announced itself.
        wait_until(
            lambda: httpx.get(url, auth=(username, password)).json()["status"] == "OK",
            120,
            what="status OK with the worker",
        )
        assert httpx.get(f"http://127.0.0.1:{port}/api/v3.1/status").status_code == 401
        celery = create_celery(redis_url)
        try:
            # Only our worker consumes this queue, so the answer proves it is connected.
            replies = wait_until(lambda: celery.control.ping(timeout=1.0, destination=None), 30)
            assert replies
            queues = wait_until(lambda: celery.control.inspect(timeout=1.0).active_queues(), 30)
            names = {q["name"] for qs in queues.values() for q in qs}  # type: ignore[union-attr]
            assert f"test-{port}" in names
        finally:
            celery.close()
        # The password given in the environment is used, never printed.
        log.flush()
        assert password not in (tmp_path / "processes.log").read_text()
    finally:
        pool = descendants(worker.pid)
        for process in (api, worker):
            process.send_signal(signal.SIGTERM)
        for process in (api, worker):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_tree(process.pid)
                raise
        wait_until(lambda: not any(alive(pid) for pid in pool), 5)
