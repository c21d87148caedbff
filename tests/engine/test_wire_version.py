"""A worker and an API of different wire versions refuse each other with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from manager.settings import Settings
from tests.conftest import BACKENDS
from tests.engine.conftest import own_stack
from wire import WIRE_MISMATCH, WIRE_VERSION
from workers.client import WireVersionMismatch, WorkerClient

pytestmark = pytest.mark.slow

OTHER = WIRE_VERSION + 1
# `quarterdeck worker` of a build speaking another wire version.
OTHER_WORKER = (
    f"import sys, wire; wire.WIRE_VERSION = {OTHER}; from manager.cli import app; "
    "sys.argv[0] = 'quarterdeck'; app()"
)
MESSAGE = (
    f"this worker speaks wire version {OTHER} but the API speaks wire version {WIRE_VERSION}: "
    "run workers of the API's release"
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_worker_of_another_wire_version_is_refused_and_stops(
    backend: str, tmp_path: Path, redis_url: str
) -> None:
    if backend not in BACKENDS:
        pytest.skip("QD_TEST_DATABASE_URL is not set")
    with own_stack(backend, tmp_path, redis_url) as stack:
        stack.start_api()
        token = Settings(secret_key=stack.env["QD_SECRET_KEY"]).resolved_worker_token
        api = f"{stack.url}/api/v3.1/worker/operations"
        headers = {"Authorization": f"Bearer {token}"}
        body = {"items": [["nothing", 1]], "worker": "old"}

        # A request without the header (a worker from before the header) is refused too.
        answer = httpx.post(f"{api}/claim", json=body, headers=headers)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_code"] == WIRE_MISMATCH
        assert answer.json()["message"] == (
            f"this worker speaks no wire version but the API speaks wire version "
            f"{WIRE_VERSION}: run workers of the API's release"
        )
        client = WorkerClient(stack.url, token, wire_version=OTHER)
        with pytest.raises(WireVersionMismatch) as refused:
            client.claim_batch([("nothing", 1)], "old")
        client.close()
        assert str(refused.value) == MESSAGE

        # A real worker process of the other version asks the API before it consumes, is
        # refused, says so in one line and exits 2 (manager.preflight), taking no task.
        done = subprocess.run(
            [sys.executable, "-c", OTHER_WORKER, "worker", "--concurrency", "1"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("quarterdeck: ")]
        assert errors == [f"quarterdeck: {MESSAGE}"], done.stderr
