"""The FastAPI application factory: settings, database, broker, routers, error handlers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from anyio import CapacityLimiter
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from manager import __version__
from manager.api import (
    blueprints,
    callbacks,
    deployments,
    events,
    executions,
    nodes,
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
from manager.api.middleware import RequestIdMiddleware
from manager.api.plugins import router as plugins_router
from manager.api.secrets import router as secrets_router
from manager.api.tenants import router as tenants_router
from manager.api.tokens import router as tokens_router
from manager.api.users import router as users_router
from manager.broker import Broker
from manager.db.engine import Database
from manager.orchestration import control
from manager.security import VerifiedPasswords
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
        if await polling.answer(self, scope, send):
            return
        if await workers.answer(self, scope, receive, send):
            return
        await super().__call__(scope, workers.replayed(scope, receive), send)


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
        app.state.read_threads = CapacityLimiter(READ_THREADS)
        # The lean path's reads (manager.api.polling), as many threads as run_read's.
        polled_reads = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="polled-read")
        app.state.polled_reads = polled_reads
        # The lean path's claims and reports (manager.api.workers.answer).
        worker_threads = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="worker-report")
        app.state.worker_threads = worker_threads
        app.state.broker = broker
        app.state.watchdog = watchdog
        if run_watchdog:
            watchdog.start()
        # What startup built (modules, mappers, routes) lives as long as the process: full
        # collections need not walk it again (pauses of 40-70 ms, then about 10, under load).
        gc.freeze()
        try:
            yield
        finally:
            watchdog.stop()
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
    )
    app.state.settings = settings
    # Caches live on the application, not in modules: two apps in one process share none.
    app.state.callers = CallerCache(settings.secret_key, settings.caller_cache_seconds)
    app.state.verified_passwords = VerifiedPasswords()
    install_error_handlers(app, debug=settings.debug)
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        max_worker_body_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(RequestIdMiddleware)
    app.include_router(system.unversioned)
    for module in (system, blueprints, deployments, nodes, executions, events, workers):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(tenants_router, prefix=API_PREFIX)
    app.include_router(users_router, prefix=API_PREFIX)
    app.include_router(tokens_router, prefix=API_PREFIX)
    app.include_router(secrets_router, prefix=API_PREFIX)
    app.include_router(plugins_router, prefix=API_PREFIX)
    app.include_router(searches.router, prefix=API_PREFIX)
    # What operation code calls back; the file server lives outside the API prefix.
    app.include_router(callbacks.router, prefix=API_PREFIX)
    app.include_router(resources.router)
    return app
