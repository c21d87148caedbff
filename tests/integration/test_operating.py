"""Operating a real stack: health and readiness without credentials, the workers in
`/status`, `/workers` and `quarterdeck workers`, Prometheus metrics after an install (with
one API process and with `--workers 2`), and JSON logs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from manager.broker import redis_client_url
from tests.conftest import BACKENDS
from tests.engine.conftest import own_stack
from tests.engine.stack import Stack
from tests.support import wait_for_http, wait_until
from wire.presence import PRESENCE_TTL

pytestmark = pytest.mark.slow

METRICS_TOKEN = "scrape-me"
NODES = 3
# Each node's create waits for its release file: the test sees it running, then lets go.
BLUEPRINT = f"""
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  release:
    type: string
node_templates:
{
    "".join(
        f'''  node{i}:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/create.sh
          inputs:
            RELEASE: {{get_input: release}}
        configure: scripts/noop.sh
        start: scripts/noop.sh
'''
        for i in range(NODES)
    )
}
"""
CREATE = '#!/bin/sh\nwhile [ ! -e "$RELEASE" ]; do sleep 0.05; done\n'
NOOP = "#!/bin/sh\nexit 0\n"


def scrape(stack: Stack) -> dict[str, float]:
    """`/metrics` as {"name{label=value,...}": value} (labels sorted)."""
    response = httpx.get(
        f"{stack.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def workers(stack: Stack) -> list[dict[str, Any]]:
    response = stack.client.get("/workers")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def install(stack: Stack, tmp_path: Path, name: str, *, watch_running: bool) -> None:
    """Install the blueprint; with `watch_running`, check the workers' running count while
    the create operations wait for their release file."""
    release = tmp_path / f"{name}.release"
    stack.upload(
        name,
        {"blueprint.yaml": BLUEPRINT, "scripts/create.sh": CREATE, "scripts/noop.sh": NOOP},
    )
    stack.deploy(name, name, {"release": str(release)})
    execution = stack.execute(name, "install", wait=False)
    if watch_running:
        # Two pool processes: two creates run at once, the third waits its turn.
        wait_until(
            lambda: sum(w["running_operations"] for w in workers(stack)) == 2,
            60,
            what="two running operations on the worker",
        )
        status = stack.client.get("/status").json()
        assert status["services"]["Workers"]["extra_info"]["running_operations"] == 2
    release.write_text("go")
    done = stack.wait(execution["id"], timeout=120)
    assert done["status"] == "terminated", done["error"] + stack.logs()


def quarterdeck_workers(stack: Stack) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "manager.cli", "workers", "--json"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


@pytest.mark.parametrize("backend", BACKENDS)
def test_health_workers_metrics_and_json_logs(backend: str, tmp_path: Path, redis_url: str) -> None:
    # (This Redis database is the test session's: no other worker's presence is left.)
    redis.Redis.from_url(redis_client_url(redis_url)).flushdb()
    with own_stack(
        backend, tmp_path, redis_url, metrics_token=METRICS_TOKEN, log_format="json"
    ) as stack:
        stack.start_api()

        # Health and readiness answer without credentials.
        assert httpx.get(f"{stack.url}/healthz").json() == {"status": "OK"}
        ready = httpx.get(f"{stack.url}/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "OK", "database": True, "broker": True}

        # No worker: /status says so and is not OK.
        status = stack.client.get("/status").json()
        assert status["status"] == "Fail"
        assert status["services"]["Database"]["status"] == "Active"
        assert status["services"]["Workers"]["status"] == "Failed"
        assert "no worker" in status["services"]["Workers"]["extra_info"]["message"]
        assert status["workers"] == [] and workers(stack) == []
        assert quarterdeck_workers(stack) == []

        worker = stack.start_worker("--concurrency", "2")
        (seen,) = wait_until(lambda: workers(stack), 60, what="the worker in /workers")  # type: ignore[misc]
        assert seen["name"].startswith("central@")
        assert seen["queues"] == ["central"] and seen["concurrency"] == 2
        assert 0 <= seen["heartbeat_age"] < PRESENCE_TTL
        assert seen["running_operations"] == 0
        status = stack.client.get("/status").json()
        assert status["status"] == "OK", status
        assert [w["pid"] for w in status["workers"]] == [seen["pid"]]
        (listed,) = quarterdeck_workers(stack)
        assert listed["pid"] == seen["pid"] and listed["name"] == seen["name"]

        install(stack, tmp_path, "ops", watch_running=True)

        # Metrics: a token is required; the counters saw the install.
        assert httpx.get(f"{stack.url}/metrics").status_code == 401
        samples = scrape(stack)
        operations = NODES * 3
        assert samples["quarterdeck_operations_started_total{}"] >= operations
        assert samples["quarterdeck_operations_finished_total{outcome=succeeded}"] >= operations
        assert samples.get("quarterdeck_operations_finished_total{outcome=failed}", 0) == 0
        assert samples.get("quarterdeck_operations_retried_total{}", 0) == 0
        timed = samples["quarterdeck_operation_duration_seconds_count{}"]
        assert 1 <= timed <= samples["quarterdeck_operations_finished_total{outcome=succeeded}"]
        assert samples["quarterdeck_operation_duration_seconds_sum{}"] > 0
        assert samples["quarterdeck_executions{status=terminated}"] >= 2  # upload + install
        assert samples["quarterdeck_queue_depth{queue=central}"] == 0
        assert samples["quarterdeck_workers{}"] == 1
        polled = (
            "quarterdeck_http_request_duration_seconds_count"
            "{method=GET,route=/api/v3.1/executions/{execution_id}}"
        )
        assert samples[polled] >= 1
        assert (
            samples[
                "quarterdeck_http_request_duration_seconds_count{method=GET,route=/api/v3.1/workers}"
            ]
            >= 1
        )

        # A worker that stops cleanly takes its presence with it.
        stack.kill(worker, signal.SIGTERM)
        wait_until(lambda: workers(stack) == [], 30, what="the worker gone from /workers")

        # Every line the API logged is a JSON object with the usual fields.
        lines = [x for x in (tmp_path / "api.log").read_text().splitlines() if x.strip()]
        assert lines
        for line in lines:
            record = json.loads(line)
            assert {"time", "level", "component", "logger", "message"} <= set(record), line
            assert record["component"] == "api"


def test_metrics_add_up_across_api_processes(tmp_path: Path, redis_url: str) -> None:
    """With `--workers 2`, any process's scrape reports both processes' counters."""
    redis.Redis.from_url(redis_client_url(redis_url)).flushdb()
    with own_stack(BACKENDS[-1], tmp_path, redis_url, metrics_token=METRICS_TOKEN) as stack:
        # (Two processes importing the app at once take long on a busy machine: wait more.)
        stack.api = stack._spawn("api", "api", "--port", str(stack.port), "--workers", "2")
        wait_for_http(f"{stack.url}/readyz", 300)
        stack.start_worker("--concurrency", "2")
        wait_until(lambda: workers(stack), 60, what="the worker in /workers")
        install(stack, tmp_path, "multi", watch_running=False)
        started = set()
        for _ in range(8):  # (new connections: each may land on either process)
            samples = scrape(stack)
            started.add(samples["quarterdeck_operations_started_total{}"])
            assert samples["quarterdeck_operations_finished_total{outcome=succeeded}"] >= NODES * 3
        assert len(started) == 1 and started.pop() >= NODES * 3
