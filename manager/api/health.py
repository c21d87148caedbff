"""Operating routes: liveness and readiness for load balancers, the live workers, the
Prometheus exposition, and the hello a starting worker checks its token with.

`/healthz` and `/readyz` need no credentials (health checks carry none) and tell nothing
but up or down. `/metrics` takes `Authorization: Bearer <QD_METRICS_TOKEN>`, as Prometheus
scrapers send it; without that setting it is refused.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from manager import metrics
from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, require
from manager.api.pagination import ListSpec, list_response, parse_list_query
from manager.api.workers import Worker
from manager.broker import Broker
from manager.errors import CodedError, Unauthorized
from manager.schemas.common import ListRead
from manager.schemas.health import HealthRead, ReadyRead, WorkerHelloRead, WorkerRead
from manager.services import workers as worker_presence
from wire import WIRE_VERSION

unversioned = APIRouter(tags=["health"])
router = APIRouter(tags=["health"])


WORKERS_SPEC = ListSpec(
    columns={"name": None, "hostname": None},
    fields=tuple(WorkerRead.model_fields),
    default_sort=("name", "hostname"),
)


def _broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


@unversioned.get("/healthz", response_model=HealthRead)
def healthz() -> dict[str, Any]:
    """The process is alive and serving; nothing else is checked."""
    return {"status": "OK"}


@unversioned.get("/readyz", response_model=ReadyRead, responses={503: {"model": ReadyRead}})
def readyz(request: Request, response: Response, session: SessionDep) -> dict[str, Any]:
    """OK when the database and the broker answer; 503 otherwise (take me out of rotation)."""
    database, broker = worker_presence.readiness(session, _broker(request))
    ready = database and broker
    if not ready:
        response.status_code = 503
    return {"status": "OK" if ready else "Fail", "database": database, "broker": broker}


@unversioned.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
def prometheus_metrics(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Prometheus' text exposition of this host's API processes (see manager.metrics)."""
    if not settings.metrics_token:
        raise CodedError(
            "Metrics are off: set QD_METRICS_TOKEN and scrape with `Authorization: Bearer <token>`",
            "metrics_disabled",
            403,
        )
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.encode(), settings.metrics_token.encode()
    ):
        raise Unauthorized("The metrics token (QD_METRICS_TOKEN) is required")
    executions, queues, workers = worker_presence.metrics_snapshot(session, _broker(request))
    return Response(
        metrics.exposition(executions, queues, workers), media_type=metrics.CONTENT_TYPE_LATEST
    )


@router.get("/workers", response_model=ListRead[WorkerRead], dependencies=[require("workers_list")])
def list_workers(request: Request, session: SessionDep, _: CurrentPrincipal) -> dict[str, Any]:
    """The live workers: those whose presence record in Redis is fresh."""
    query = parse_list_query(request, WORKERS_SPEC)
    found = worker_presence.safe_list_workers(session, _broker(request))
    if found is None:
        raise CodedError("The broker cannot be read: no worker can be listed", "broker_error", 503)
    rows = [
        row
        for row in found
        if all(str(row[name]) in values for name, values in query.filters.items())
    ]
    for name, descending in reversed(query.sort):
        rows.sort(key=lambda row: str(row[name]), reverse=descending)
    return list_response(rows[query.offset : query.offset + query.size], len(rows), query)


@router.get("/worker/hello", response_model=WorkerHelloRead, include_in_schema=False)
def worker_hello(_: Worker) -> dict[str, Any]:
    """A starting worker's check: its token is accepted and it speaks our wire version
    (`require_worker` refuses it otherwise, naming the problem)."""
    return {"status": "OK", "wire_version": WIRE_VERSION}
