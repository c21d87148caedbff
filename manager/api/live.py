"""Live event streams (Server-Sent Events): an execution's, which ends with the execution,
and a deployment's, which lasts until the client leaves.

Each event is sent as `id: <number>` and `data: <the event as GET /events lists it>`. A
client that reconnects sends the last number it got as `Last-Event-ID` (browsers'
EventSource does so by itself; `?last_event_id=` works too) and gets what followed, with no
gap and no repeat. An execution's stream numbers events by their per-execution sequence
(1, 2, ...); a deployment's by their storage id (`_storage_id`). When an execution has
ended and its last event is sent, its stream sends `event: end` (with the final status)
and closes. While nothing happens, a `: ping` comment every `QD_EVENTS_HEARTBEAT_SECONDS`
keeps proxies from closing the connection.

Streams wait on manager.live_events (Redis pub/sub) and read the database only when told
that their execution or deployment has new events, or every `QD_EVENTS_POLL_SECONDS` in
case a message was lost. Authentication is that of every route (the headers): the built-in
dashboard reads streams with `fetch`, which can send them, so no credential ever goes into
a URL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from manager.api.deps import CurrentPrincipal, get_database, get_settings, require, run_read
from manager.db.engine import Database
from manager.errors import BadParameters
from manager.live_events import LiveEvents, deployment_key, execution_key
from manager.schemas.events import event_read
from manager.services import event_streams
from manager.services.event_streams import DeploymentSubject, ExecutionSubject

router = APIRouter(tags=["events"])
T = TypeVar("T")

_SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and similar proxies: pass each event on at once.
    "X-Accel-Buffering": "no",
}
_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A text/event-stream of events (`id:` and `data:` lines).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/executions/{execution_id}/events/stream",
    response_class=StreamingResponse,
    responses=_SSE_DOC,
    dependencies=[require("event_list")],
)
async def stream_execution_events(
    execution_id: str, request: Request, principal: CurrentPrincipal
) -> StreamingResponse:
    """The execution's events from the first (or after `Last-Event-ID`), then live, until
    the execution has ended and every event of it has been sent."""
    after = _last_event_id(request, default=0) or 0
    database = get_database(request)
    subject = await run_read(
        request, _in_session(database, event_streams.execution_subject), principal, execution_id
    )
    return _sse(_execution_stream(request, database, subject, after))


@router.get(
    "/deployments/{deployment_id}/events/stream",
    response_class=StreamingResponse,
    responses=_SSE_DOC,
    dependencies=[require("event_list")],
)
async def stream_deployment_events(
    deployment_id: str, request: Request, principal: CurrentPrincipal
) -> StreamingResponse:
    """Events of every execution of the deployment from now on (or after `Last-Event-ID`,
    a storage id; `0` replays them all), until the client leaves."""
    database = get_database(request)
    subject = await run_read(
        request, _in_session(database, event_streams.deployment_subject), principal, deployment_id
    )
    after = _last_event_id(request, default=None)
    if after is None:
        after = await run_read(
            request, _in_session(database, event_streams.last_deployment_event), subject
        )
    return _sse(_deployment_stream(request, database, subject, after))


def _sse(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=_SSE_HEADERS)


def _last_event_id(request: Request, default: int | None) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameters(
            f"`Last-Event-ID` must be an event number from this stream, got `{raw}`"
        ) from None
    if value < 0:
        raise BadParameters(f"`Last-Event-ID` must not be negative, got `{raw}`")
    return value


def _in_session(database: Database, function: Callable[..., T]) -> Callable[..., T]:
    """`function(session, *args)` in a read-only session of its own, closed at once: a
    stream holds no session (nor connection) while it waits."""

    def call(*args: Any) -> T:
        with database.session(write=False) as session:
            return function(session, *args)

    return call


def _read_execution(
    database: Database, subject: ExecutionSubject, after: int
) -> tuple[list[tuple[int, dict[str, Any]]], bool, str | None]:
    with database.session(write=False) as session:
        rows, ended = event_streams.execution_events_after(session, subject, after)
        items = [(row.seq, event_read(row)) for row in rows]
        status = event_streams.execution_status(session, subject) if ended else None
    return items, ended, status


def _read_deployment(
    database: Database, subject: DeploymentSubject, after: int
) -> list[tuple[int, dict[str, Any]]]:
    with database.session(write=False) as session:
        rows = event_streams.deployment_events_after(session, subject, after)
        return [(row.pk, event_read(row)) for row in rows]


def _message(number: int, item: dict[str, Any]) -> str:
    return f"id: {number}\ndata: {json.dumps(item, separators=(',', ':'))}\n\n"


class _Pacing:
    """When a stream reads again: when told of news, else every `poll` seconds; a heartbeat
    once `heartbeat` seconds passed without anything sent; and when it closes, to be resumed
    by the client (`QD_EVENTS_STREAM_SECONDS`), which then authenticates again."""

    def __init__(self, request: Request) -> None:
        settings = get_settings(request)
        self.poll = settings.events_poll_seconds
        self.heartbeat = settings.events_heartbeat_seconds
        self.loop = asyncio.get_running_loop()
        self.ping_at = self.loop.time() + self.heartbeat
        self.close_at = self.loop.time() + settings.events_stream_seconds

    @property
    def expired(self) -> bool:
        return self.loop.time() >= self.close_at

    def sent(self) -> None:
        self.ping_at = self.loop.time() + self.heartbeat

    async def wait(self, news: asyncio.Event) -> bool:
        """Wait for news, the poll interval or the heartbeat; True if a ping is due."""
        now = self.loop.time()
        timeout = max(0.0, min(now + self.poll, self.ping_at, self.close_at) - now)
        try:
            await asyncio.wait_for(news.wait(), timeout)
        except TimeoutError:
            pass
        if self.loop.time() >= self.ping_at:
            self.sent()
            return True
        return False


def _live(request: Request) -> LiveEvents:
    live: LiveEvents = request.app.state.live_events
    return live


async def _execution_stream(
    request: Request, database: Database, subject: ExecutionSubject, after: int
) -> AsyncIterator[str]:
    pacing = _Pacing(request)
    with _live(request).watch(execution_key(subject.execution_id)) as news:
        yield f"retry: {_RETRY_MS}\n\n"
        while True:
            news.clear()
            items, ended, status = await run_read(
                request, _read_execution, database, subject, after
            )
            for number, item in items:
                yield _message(number, item)
                after = number
            if items:
                pacing.sent()
            if ended:
                end = {"execution_id": subject.execution_id, "status": status}
                yield f"event: end\ndata: {json.dumps(end)}\n\n"
                return
            if len(items) >= event_streams.BATCH:
                continue
            if pacing.expired:
                return
            if await pacing.wait(news):
                yield ": ping\n\n"


async def _deployment_stream(
    request: Request, database: Database, subject: DeploymentSubject, after: int
) -> AsyncIterator[str]:
    pacing = _Pacing(request)
    key = deployment_key(subject.tenant_pk, subject.deployment_id)
    with _live(request).watch(key) as news:
        # The starting point goes first, so a client that asked for "from now on" can
        # resume from it even if nothing happens before it reconnects.
        yield f"retry: {_RETRY_MS}\nid: {after}\n\n"
        while True:
            news.clear()
            items = await run_read(request, _read_deployment, database, subject, after)
            for number, item in items:
                yield _message(number, item)
                after = number
            if items:
                pacing.sent()
            if len(items) >= event_streams.BATCH:
                continue
            if pacing.expired:
                return
            if await pacing.wait(news):
                yield ": ping\n\n"


# How long a browser's EventSource waits before reconnecting, in milliseconds.
_RETRY_MS = 2000
