"""`GET /executions/{id}` under 100 concurrent polling clients while an install runs.

Starts a real API (`--api-workers` processes) and worker (PostgreSQL and Redis when they
answer locally, else SQLite and a private Redis), installs bench/engine_blueprint.py's
blueprint once without pollers and once with N clients polling the execution (each as fast
as it can, or with `--rate` at that many requests per second in all), and prints the
pollers' requests/s and latency percentiles, the CPU time of the API, the worker and the
pollers, and how much the install slowed down.

The pollers are lean on purpose (one process, asyncio streams on uvloop, keep-alive, the
request's bytes built once): the figures are the server's, and on a 2-core machine an HTTP
client library would spend as much CPU as the server it measures. Each client first reads
the finished install's execution 3 times (warm connections, pools and caller cache). With
`--rate`, a latency runs from when the request was due, so a slow answer also counts
against those it delays.

    python bench/poll_executions.py [--clients 100] [--nodes 60] [--api-workers 1] [--rate 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine_install import bench_stack, cpu_seconds, upload_generated  # noqa: E402
from tests.engine.stack import END_STATES, Stack  # noqa: E402

TIMEOUT = 30.0


@contextmanager
def poll_stack(api_workers: int) -> Iterator[tuple[Stack, str]]:
    """bench_stack's, with `api_workers` API processes and one worker."""
    with bench_stack("qd-poll-") as (stack, backend):
        assert stack.api is not None
        stack.kill(stack.api)
        stack.start_api("--workers", str(api_workers))
        stack.start_worker("--concurrency", "2")
        yield stack, backend


def request_bytes(port: int, path: str, token: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authentication-Token: {token}\r\nTenant: default_tenant\r\n\r\n"
    ).encode()


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise RuntimeError(f"no content-length in {head[:200]!r}")


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def exchange(connection: Connection, request: bytes) -> tuple[bytes, bytes]:
    reader, writer = connection
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    body = await asyncio.wait_for(reader.readexactly(content_length(head)), TIMEOUT)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{head.splitlines()[0]!r}: {body[:200]!r}")
    return head, body


async def warmed_connection(port: int, request: bytes) -> Connection:
    """A keep-alive connection that has read an execution a few times: the figures are of
    a running API, not of its first requests (opening pools, filling the caller cache)."""
    connection = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(3):
        await exchange(connection, request)
    return connection


async def poll(
    connection: Connection,
    request: bytes,
    interval: float,
    stop: asyncio.Event,
    latencies: list[float],
) -> None:
    """One client, until the execution ends."""
    due = time.perf_counter() + random.uniform(0, interval)
    try:
        while not stop.is_set():
            if interval:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            began = due if interval else time.perf_counter()
            _, body = await exchange(connection, request)
            latencies.append(time.perf_counter() - began)
            if json.loads(body)["status"] in END_STATES:
                stop.set()
            due += interval
    finally:
        connection[1].close()


async def install_with_pollers(
    stack: Stack, name: str, warm_up_id: str, clients: int, rate: float, token: str
) -> tuple[float, dict[str, float], list[float]]:
    """Seconds the install took, CPU seconds (API, worker, pollers), and the latencies."""
    warm_up = request_bytes(stack.port, f"/api/v3.1/executions/{warm_up_id}", token)
    connections = await asyncio.gather(
        *(warmed_connection(stack.port, warm_up) for _ in range(clients))
    )
    assert stack.api is not None
    pids = {"API": stack.api.pid, "worker": stack.workers[0].pid}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    polled = time.process_time()
    began = time.perf_counter()
    execution = stack.execute(name, "install", wait=False)
    request = request_bytes(stack.port, f"/api/v3.1/executions/{execution['id']}", token)
    interval = clients / rate if rate else 0.0
    stop = asyncio.Event()
    latencies: list[float] = []
    await asyncio.gather(
        *(poll(connection, request, interval, stop, latencies) for connection in connections)
    )
    elapsed = time.perf_counter() - began
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    cpu["pollers"] = time.process_time() - polled
    return elapsed, cpu, latencies


def run(main: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=60)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument(
        "--rate", type=float, default=0, help="requests/s of all clients (0: as fast as they can)"
    )
    args = parser.parse_args()
    with poll_stack(args.api_workers) as (stack, backend):
        upload_generated(stack, "poll", args.nodes)
        token = stack.client.post("/tokens", json={}).json()["value"]
        quiet, busy = f"quiet-{uuid.uuid4().hex[:4]}", f"busy-{uuid.uuid4().hex[:4]}"
        stack.deploy("poll", quiet)
        stack.deploy("poll", busy)
        began = time.perf_counter()
        first = stack.execute(quiet, "install", wait=False)
        assert stack.wait(first["id"], timeout=900)["status"] == "terminated"
        alone = time.perf_counter() - began
        elapsed, cpu, latencies = run(
            install_with_pollers(stack, busy, first["id"], args.clients, args.rate, token)
        )
    latencies.sort()

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    pace = f"{args.rate:.0f} requests/s offered" if args.rate else "as fast as they can"
    print(
        f"database: {backend}; API processes: {args.api_workers}; clients: {args.clients} "
        f"({pace}); install of {args.nodes} nodes"
    )
    print(
        f"GET /executions/{{id}}: {len(latencies) / elapsed:.0f} requests/s; latency "
        f"p50 {percentile(0.5):.1f} ms, p99 {percentile(0.99):.1f} ms, max "
        f"{latencies[-1] * 1000:.1f} ms, mean {statistics.fmean(latencies) * 1000:.1f} ms"
    )
    shares = ", ".join(f"{name} {seconds / elapsed:.0%}" for name, seconds in cpu.items())
    print(f"CPU while polled (of one core): {shares}")
    print(f"install alone {alone:.1f} s, with pollers {elapsed:.1f} s ({elapsed / alone:.2f}x)")


if __name__ == "__main__":
    main()
