"""The FastAPI application factory: settings, database, broker, routers, error handlers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from time import perf_counter
from typing import Any

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from manager import __version__, dashboard
from manager.api import (
    blueprints,
    callbacks,
    deployment_groups,
    deployment_updates,
    deployments,
    events,
    execution_groups,
    executions,
    health,
    labels,
    live,
    nodes,
    openapi,
    polling,
    resources,
    searches,
    system,
    workers,
)
from manager.api.body_limit import BodyLimit
from manager.api.caller_cache import CallerCache
from manager.api.deps import READ_THREADS
from manager.api.errors import install_error_handlers
from manager.api.execution_reads import ExecutionReads
from manager.api.middleware import RequestIdMiddleware
from manager.api.plugins import router as plugins_router
from manager.api.secrets import router as secrets_router
from manager.api.tenants import router as tenants_router
from manager.api.tokens import router as tokens_router
from manager.api.users import router as users_router
from manager.broker import Broker
from manager.db import event_store
from manager.db.engine import Database
from manager.live_events import EventPublisher, LiveEvents
from manager.metrics import POLLED_REQUEST, REQUEST_DURATION, RequestMetrics
from manager.orchestration import control
from manager.security import VerifiedPasswords
from manager.services import context_cache
from manager.settings import Settings, ensure_secrets, load_settings
from manager.watchdog import Watchdog, recovery_steps

log = logging.getLogger(__name__)

API_PREFIX = "/api/v3.1"
# Threads for workers' claims and reports, each a write transaction: a few are enough to
# keep the database busy, more would only contend for the GIL and the execution locks.
WORKER_THREADS = 8


class QuarterdeckAPI(FastAPI):
    """FastAPI, with the polled `GET /executions/{id}` of a known caller (manager.api.polling)
    and workers' claims and reports (manager.api.workers) answered first: FastAPI's own
    stack around every request (its error, telemetry and body-limit middlewares, then
    routing) costs more than those answers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A cross-origin request goes the whole way, through the CORS middleware.
        cross_origin = bool(self.state.settings.cors_origins) and _has_origin(scope)
        start = perf_counter()
        if not cross_origin and await polling.answer(self, scope, send):
            POLLED_REQUEST.observe(perf_counter() - start)  # (the others: RequestMetrics)
            return
        if await workers.answer(self, scope, receive, send):
            # (Its two paths, claim and results, are fixed: the label stays bounded.)
            REQUEST_DURATION.labels("POST", scope["path"]).observe(perf_counter() - start)
            return
        await super().__call__(scope, workers.replayed(scope, receive), send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, completed once (manager.api.openapi): the error bodies and
        statuses, the security schemes, the list parameters, for every route. FastAPI makes
        it again when routes are added; completing a document twice changes nothing."""
        return openapi.complete(super().openapi(), self.routes)


def _has_origin(scope: Scope) -> bool:
    return any(name == b"origin" for name, _ in scope.get("headers", ()))


def create_app(settings: Settings | None = None, *, run_watchdog: bool = True) -> QuarterdeckAPI:
    settings = settings or load_settings()
    if not settings.secret_key:
        ensure_secrets(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.resolved_database_url)
        broker = Broker(settings.resolved_broker_url)
        watchdog = Watchdog(
            database,
            steps=recovery_steps(settings),
            interval=settings.watchdog_interval,
            on_takeover=lambda work: control.grace_leases(work.session, settings.lease_seconds),
            publisher=broker,
        )
        app.state.db = database
        app.state.callers.watch(database.factories)
        app.state.execution_reads.watch(database.factories)
        # What operation contexts of an execution share, kept by this database's sessions.
        context_cache.attach(database.factories)
        app.state.read_threads = CapacityLimiter(READ_THREADS)
        # The lean path's reads (manager.api.polling), as many threads as run_read's.
        polled_reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="polled-read")
        app.state.polled_reads = polled_reads
        # The lean path's claims and reports (manager.api.workers.answer).
        worker_threads = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="worker-report")
        app.state.worker_threads = worker_threads
        app.state.broker = broker
        broker.warm()
        app.state.watchdog = watchdog
        # Commits that store events tell every API process's streams (manager.live_events).
        event_store.on_committed(database.factories, EventPublisher(broker.redis))
        live = LiveEvents(broker.url, on_news=app.state.execution_reads.news)
        app.state.live_events = live
        live.start()
        if run_watchdog:
            watchdog.start()
        # What startup built (modules, mappers, routes) lives as long as the process: full
        # collections need not walk it again (pauses of 40-70 ms, then about 10, under load).
        gc.freeze()
        try:
            yield
        finally:
            watchdog.stop()
            await live.stop()
            polled_reads.shutdown(wait=False)
            worker_threads.shutdown(wait=False)
            broker.close()
            database.dispose()

    app = QuarterdeckAPI(
        title="Quarterdeck",
        version=__version__,
        description="Orchestration manager speaking the Cloudify REST API v3.1",
        lifespan=lifespan,
        debug=False,
        # /docs and /redoc are served by manager.api.openapi, with local files.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # Caches live on the application, not in modules: two apps in one process share none.
    app.state.callers = CallerCache(settings.secret_key, settings.caller_cache_seconds)
    app.state.verified_passwords = VerifiedPasswords()
    app.state.execution_reads = ExecutionReads()
    install_error_handlers(app, debug=settings.debug)
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        max_worker_body_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(RequestMetrics)
    if settings.cors_origin_list:
        # Added last, so it runs first: preflights are answered before anything else.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["*"],
            allow_headers=[
                "Authorization",
                "Authentication-Token",
                "Tenant",
                "Content-Type",
                "Last-Event-ID",
            ],
            expose_headers=["X-Request-Id", "Retry-After"],
            max_age=600,
        )
    app.include_router(system.unversioned)
    app.include_router(health.unversioned)
    app.include_router(health.router, prefix=API_PREFIX)
    for module in (system, blueprints, deployments, nodes, executions, events, live, workers):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(tenants_router, prefix=API_PREFIX)
    app.include_router(users_router, prefix=API_PREFIX)
    app.include_router(tokens_router, prefix=API_PREFIX)
    app.include_router(secrets_router, prefix=API_PREFIX)
    app.include_router(plugins_router, prefix=API_PREFIX)
    app.include_router(searches.router, prefix=API_PREFIX)
    app.include_router(deployment_updates.router, prefix=API_PREFIX)
    for module in (labels, deployment_groups, execution_groups):
        app.include_router(module.router, prefix=API_PREFIX)
    # What operation code calls back; the file server lives outside the API prefix.
    app.include_router(callbacks.router, prefix=API_PREFIX)
    app.include_router(resources.router)
    openapi.install_docs(app)
    # The web dashboard: its page at `/`, its files under `/dashboard/`.
    dashboard.install(app)
    return app
