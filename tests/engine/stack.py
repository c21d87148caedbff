"""A running Quarterdeck made of real processes: the API, Celery workers, Redis, a database.

Tests drive it over HTTP like any client; fault tests kill its processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis

from manager.broker import redis_client_url
from tests.api.uploads import cfy_archive
from tests.support import free_port, wait_for_http

PASSWORD = "engine-test-password"
END_STATES = ("terminated", "failed", "cancelled")


class Stack:
    def __init__(self, root: Path, database_url: str, redis_url: str, **settings: str) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.update(
            {
                "QD_DATA_DIR": str(root / "data"),
                "QD_DATABASE_URL": database_url,
                "QD_BROKER_URL": redis_url,
                "QD_API_URL": self.url,
                "QD_SECRET_KEY": "engine-tests-" + uuid.uuid4().hex,
                "QD_ADMIN_PASSWORD": PASSWORD,
                "QD_LEASE_SECONDS": "3",
                "QD_REDELIVERY_SECONDS": "3",
                "QD_WATCHDOG_INTERVAL": "0.5",
                "QD_TASK_RETRY_INTERVAL": "0",
                "QD_LOG_LEVEL": "INFO",
            }
        )
        self.env.update({f"QD_{k.upper()}": v for k, v in settings.items()})
        self.redis_url = redis_url
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.client = httpx.Client(
            base_url=self.url + "/api/v3.1",
            auth=("admin", PASSWORD),
            headers={"Tenant": "default_tenant"},
            timeout=30,
        )

    # processes ----------------------------------------------------------------------------
    def _spawn(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            [sys.executable, "-m", "manager.cli", *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_api(self, *extra: str) -> None:
        self.api = self._spawn("api", "api", "--port", str(self.port), *extra)
        wait_for_http(f"{self.url}/api/v3.1/status", 60, auth=("admin", PASSWORD))

    def start_worker(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        worker = self._spawn(f"worker{len(self.workers)}", "worker", *args, env=env)
        self.workers.append(worker)
        return worker

    def start(self, workers: int = 1) -> Stack:
        redis.Redis.from_url(redis_client_url(self.redis_url)).flushdb()
        self.start_api()
        for _ in range(workers):
            self.start_worker("--concurrency", "2")
        return self

    @staticmethod
    def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def stop(self) -> None:
        self.client.close()
        for process in [*self.workers, self.api]:
            if process is not None and process.poll() is None:
                self.kill(process, signal.SIGTERM)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-6000:]}"
            for p in self.root.glob("*.log")
        )

    # the API ------------------------------------------------------------------------------
    def upload(
        self, blueprint_id: str, files: dict[str, str], main: str = "blueprint.yaml"
    ) -> None:
        params = {"visibility": "tenant", "async_upload": True, "application_file_name": main}
        response = self.client.put(
            f"/blueprints/{blueprint_id}",
            data={"params": json.dumps(params)},
            files={"blueprint_archive": ("filename", cfy_archive(files), "text/plain")},
        )
        assert response.status_code in (200, 201), response.text
        state = self.client.get(f"/blueprints/{blueprint_id}").json()
        assert state["state"] == "uploaded", state

    def deploy(
        self, blueprint_id: str, deployment_id: str, inputs: dict[str, Any] | None = None
    ) -> None:
        response = self.client.put(
            f"/deployments/{deployment_id}",
            json={"blueprint_id": blueprint_id, "inputs": inputs or {}},
        )
        assert response.status_code in (200, 201), response.text

    def execute(
        self, deployment_id: str, workflow: str, wait: bool = True, **parameters: Any
    ) -> dict[str, Any]:
        response = self.client.post(
            "/executions",
            json={
                "deployment_id": deployment_id,
                "workflow_id": workflow,
                "parameters": parameters,
            },
        )
        assert response.status_code == 201, response.text
        execution = response.json()
        return self.wait(execution["id"]) if wait else execution

    def wait(
        self, execution_id: str, timeout: float = 90, states: tuple[str, ...] = END_STATES
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            execution = self.client.get(f"/executions/{execution_id}").json()
            if execution["status"] in states:
                return execution
            if time.monotonic() > deadline:
                raise AssertionError(f"execution still {execution['status']}\n{self.logs()}")
            time.sleep(0.1)

    def events(self, execution_id: str) -> list[dict[str, Any]]:
        return self.client.get(
            "/events",
            params={
                "execution_id": execution_id,
                "_size": 10000,
                "_sort": "reported_timestamp",
                "type": ["cloudify_event", "cloudify_log"],
            },
        ).json()["items"]

    def instances(self, deployment_id: str) -> dict[str, dict[str, Any]]:
        items = self.client.get(
            "/node-instances", params={"deployment_id": deployment_id, "_size": 1000}
        ).json()["items"]
        return {i["id"]: i for i in items}
