"""Prometheus metrics of the API processes (`GET /metrics`, prometheus_client).

Counters and histograms are declared here once per process, as prometheus_client expects.
With `PROMETHEUS_MULTIPROC_DIR` set (the CLI sets it for `quarterdeck api` and `serve`,
before prometheus_client is imported), every API process writes its values to files there
and a scrape of any process sums them all, so `quarterdeck api --workers N` answers for the
whole host. Gauges that describe shared state (executions by status, queue depth) are
read from the database and Redis when scraped instead of being kept in each process.

Operation counters are incremented where the API applies a claim or a result, inside its
transaction: a transaction that then fails still counts (rare, and only ever one more).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "exposition"]

OPERATIONS_STARTED = Counter(
    "quarterdeck_operations_started_total", "Operation attempts claimed by workers"
)
OPERATIONS_FINISHED = Counter(
    "quarterdeck_operations_finished_total",
    "Operation attempts whose result was applied, by outcome (succeeded or failed)",
    ["outcome"],
)
OPERATIONS_RETRIED = Counter(
    "quarterdeck_operations_retried_total", "Failed operation attempts scheduled to run again"
)
OPERATION_DURATION = Histogram(
    "quarterdeck_operation_duration_seconds",
    "From an operation attempt's start to its applied result",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
WATCHDOG_REPAIRS = Counter(
    "quarterdeck_watchdog_repairs_total",
    "What the active watchdog fixed, by step (expired leases, lost messages, ...)",
    ["step"],
)
REQUEST_DURATION = Histogram(
    "quarterdeck_http_request_duration_seconds",
    "API request latency by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# The polled `GET /executions/{id}` answered before FastAPI's stack (manager.api.polling).
POLLED_REQUEST = REQUEST_DURATION.labels("GET", "/api/v3.1/executions/{execution_id}")

_FINISHED = {
    "succeeded": OPERATIONS_FINISHED.labels("succeeded"),
    "failed": OPERATIONS_FINISHED.labels("failed"),
}


def operation_finished(status: str, started_at: datetime | None, now: datetime) -> None:
    """Count an applied result (`status` as the worker reported it) and, when its start
    was announced (`started_at`), its duration. (An attempt run in a batch and not
    announced before its result has no start time of its own: it counts, untimed.)"""
    _FINISHED["succeeded" if status == "succeeded" else "failed"].inc()
    if started_at is not None:
        if started_at.tzinfo is None:
            started_at = started_at.replace(tzinfo=UTC)
        OPERATION_DURATION.observe(max(0.0, (now - started_at).total_seconds()))


def watchdog_repaired(step: str, count: int) -> None:
    if count:
        WATCHDOG_REPAIRS.labels(step).inc(count)


class RequestMetrics:
    """ASGI middleware timing each request under its route's template (bounded labels:
    the routes, plus `unmatched` for 404s on unknown paths)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_DURATION.labels(scope["method"], route_template(scope)).observe(
                time.perf_counter() - start
            )


def route_template(scope: Scope) -> str:
    """The matched route's path with its router's prefix (`/api/v3.1/blueprints/{id}`).

    FastAPI 0.16x includes routers lazily: `scope["route"]` is the router's own route,
    without the prefix, and the whole path is on the effective route context it records;
    older versions copy routes with the prefix into `scope["route"]`."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path", None)
    if isinstance(path, str):
        return path
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class _Snapshot(Collector):
    """Gauges read at scrape time: executions by status, messages waiting per queue,
    live workers."""

    def __init__(
        self,
        executions: Mapping[str, int],
        queues: Mapping[str, int],
        workers: int | None,
    ) -> None:
        self.executions = executions
        self.queues = queues
        self.workers = workers

    def collect(self) -> Iterable[Metric]:
        executions = GaugeMetricFamily(
            "quarterdeck_executions", "Executions by status", labels=["status"]
        )
        for status, count in sorted(self.executions.items()):
            executions.add_metric([status], count)
        yield executions
        depth = GaugeMetricFamily(
            "quarterdeck_queue_depth", "Messages waiting in each worker queue", labels=["queue"]
        )
        for queue, count in sorted(self.queues.items()):
            depth.add_metric([queue], count)
        yield depth
        if self.workers is not None:
            yield GaugeMetricFamily(
                "quarterdeck_workers", "Live workers (presence records)", value=self.workers
            )


def exposition(
    executions: Mapping[str, int], queues: Mapping[str, int], workers: int | None
) -> bytes:
    """The text of a scrape: this host's counters and histograms (every API process's,
    in multi-process mode) followed by the gauges read now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry: Any = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(executions, queues, workers))
    return bytes(generate_latest(registry)) + bytes(generate_latest(snapshot))
