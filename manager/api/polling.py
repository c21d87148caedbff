"""A lean path for `GET /api/v3.1/executions/{id}`, what dashboards and `cfy` poll.

When the caller's credential is in the cache (manager.api.caller_cache) and every check
passes, the answer is made here, from the same pieces as the route in
manager.api.executions (permission checks, `_include`, get_light, execution_read), without
FastAPI's routing and dependency solving, which cost more than the query. Anything else (an
unknown caller, a refusal, an unknown id or field) goes on to the app, which answers as it
always does and, for a good credential, fills the cache.
"""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from manager import permissions
from manager.api.deps import cached_caller, get_database, run_read
from manager.api.pagination import parse_include, project
from manager.errors import QuarterdeckError
from manager.schemas.executions import FIELDS, execution_read
from manager.services import executions

_EXECUTION = re.compile(r"/api/v3\.1/executions/(?P<execution_id>[^/]+)")


class ExecutionPolling:
    """Pure ASGI, inside the request-id middleware (so answers carry their id and are logged)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _EXECUTION.fullmatch(scope["path"])
            if match is not None:
                response = await _answer(Request(scope), match["execution_id"])
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _answer(request: Request, execution_id: str) -> JSONResponse | None:
    """The route's answer when it is a success for a known caller; None otherwise."""
    principal = cached_caller(request)
    if principal is None:
        return None
    try:
        permissions.check_member(principal)
        permissions.authorize(principal, "execution_get")
        include = parse_include(request, FIELDS)
        execution = await run_read(
            request, executions.get_light, get_database(request), principal, execution_id
        )
    except QuarterdeckError:
        return None
    return JSONResponse(project(execution_read(execution), include))
