"""A lean path for `GET /api/v3.1/executions/{id}`, what dashboards and `cfy` poll.

When the caller's credential is in the cache (manager.api.caller_cache) and every check
passes, the answer is made here, from the same pieces as the route in
manager.api.executions (permission checks, `_include`, get_light, execution_read), with
the execution's latest read when it is recent (manager.api.execution_reads), before
FastAPI's middleware stack, routing and dependency solving, which cost more than the query.
It carries the request id and is logged as RequestIdMiddleware does for every other
request. Anything else (an unknown caller, a refusal, an unknown id or field, a failure)
sends nothing here and goes on to the app, which answers as it always does and, for a good
credential, fills the cache.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Scope, Send

from manager import permissions
from manager.api.deps import cached_caller, get_database
from manager.api.execution_reads import ExecutionReads
from manager.api.middleware import log_access, new_request_id, with_request_id
from manager.api.pagination import parse_include, project
from manager.errors import NotFound
from manager.logs import request_id
from manager.schemas.executions import FIELDS, execution_read
from manager.services import executions
from wire import json_codec

T = TypeVar("T")

_EXECUTION = re.compile(r"/api/v3\.1/executions/(?P<execution_id>[^/]+)")


async def answer(app: Starlette, scope: Scope, send: Send) -> bool:
    """Answer a known caller's poll of an execution (True); else send nothing (False)."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return False
    match = _EXECUTION.fullmatch(scope["path"])
    if match is None:
        return False
    scope["app"] = app  # as Starlette sets it, for Request.app
    rid = new_request_id(scope)
    token = request_id.set(rid)
    started = time.perf_counter()
    try:
        body = await _body(Request(scope), match["execution_id"])
        if body is None:
            return False
        status = 500
        try:
            headers = [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
            ]
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": with_request_id(headers, rid),
                }
            )
            status = 200
            await send({"type": "http.response.body", "body": body})
        finally:
            log_access(scope, status, started)
        return True
    finally:
        request_id.reset(token)


async def _body(request: Request, execution_id: str) -> bytes | None:
    """The route's body when it is a success for a known caller; None otherwise."""
    principal = cached_caller(request)
    if principal is None:
        return None
    try:
        permissions.check_member(principal)
        permissions.authorize(principal, "execution_get")
        include = parse_include(request, FIELDS)

        async def load() -> dict[str, Any] | None:
            try:
                execution = await _in_read_thread(
                    request, executions.get_light, get_database(request), principal, execution_id
                )
            except NotFound:
                return None
            return execution_read(execution)

        reads: ExecutionReads = request.app.state.execution_reads
        key = (execution_id, principal.tenant_pk, principal.user_pk, principal.is_admin)
        read = await reads.get(key, load)
        if read is None:
            return None
        if include is None:
            return read.body
        return json_codec.dumps_bytes(project(read.answer, include))
    except Exception:
        # A refusal or an unknown id or field is the route's to answer; so is a failure,
        # which the route then meets again and reports like any other.
        return None


async def _in_read_thread(request: Request, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in one of the app's polled-read threads (see manager.main), as
    deps.run_read does, but through a plain executor: under load its hop costs a quarter
    of the CPU of anyio's."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(request.app.state.polled_reads, context.run, function, *args)
