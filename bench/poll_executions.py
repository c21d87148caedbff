"""`GET /executions/{id}` under 100 concurrent polling clients while an install runs.

Starts a real API and worker (PostgreSQL and Redis when they answer locally, else SQLite and
a private Redis), installs bench/engine_blueprint.py's blueprint once without pollers and once
with N clients polling the execution as fast as they can (httpx, asyncio, keep-alive), and
prints the pollers' requests/s and latency percentiles and how much the install slowed down.

    python bench/poll_executions.py [--clients 100] [--nodes 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.engine_install import bench_stack, upload_generated  # noqa: E402
from tests.engine.stack import Stack  # noqa: E402


async def poll(url: str, token: str, stop: asyncio.Event, latencies: list[float]) -> None:
    headers = {"Authentication-Token": token, "Tenant": "default_tenant"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        while not stop.is_set():
            began = time.perf_counter()
            response = await client.get(url)
            latencies.append(time.perf_counter() - began)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
            if response.json()["status"] in ("terminated", "failed", "cancelled"):
                stop.set()


async def install_with_pollers(stack: Stack, name: str, clients: int, token: str):
    execution = stack.execute(name, "install", wait=False)
    url = f"{stack.url}/api/v3.1/executions/{execution['id']}"
    stop = asyncio.Event()
    latencies: list[float] = []
    began = time.perf_counter()
    await asyncio.gather(*(poll(url, token, stop, latencies) for _ in range(clients)))
    elapsed = time.perf_counter() - began
    return elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=60)
    parser.add_argument("--api-workers", type=int, default=1)
    args = parser.parse_args()
    with bench_stack("qd-poll-") as (stack, backend):
        stack.kill(stack.api)  # type: ignore[arg-type]
        stack.start_api("--workers", str(args.api_workers))
        stack.start_worker("--concurrency", "2")
        upload_generated(stack, "poll", args.nodes)
        token = stack.client.post("/tokens", json={}).json()["value"]
        quiet, busy = f"quiet-{uuid.uuid4().hex[:4]}", f"busy-{uuid.uuid4().hex[:4]}"
        stack.deploy("poll", quiet)
        stack.deploy("poll", busy)
        began = time.perf_counter()
        first = stack.execute(quiet, "install", wait=False)
        assert stack.wait(first["id"], timeout=900)["status"] == "terminated"
        alone = time.perf_counter() - began
        elapsed, latencies = asyncio.run(install_with_pollers(stack, busy, args.clients, token))
    latencies.sort()

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    print(
        f"database: {backend}; API processes: {args.api_workers}; clients: {args.clients}; "
        f"install of {args.nodes} nodes"
    )
    print(
        f"GET /executions/{{id}}: {len(latencies) / elapsed:.0f} requests/s; latency "
        f"p50 {percentile(0.5):.1f} ms, p99 {percentile(0.99):.1f} ms, mean "
        f"{statistics.fmean(latencies) * 1000:.1f} ms"
    )
    print(f"install alone {alone:.1f} s, with pollers {elapsed:.1f} s ({elapsed / alone:.2f}x)")


if __name__ == "__main__":
    main()
