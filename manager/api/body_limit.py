"""A size limit on request bodies (QD_MAX_BODY_BYTES), applied before anything parses them.

Pure ASGI, so it costs a header scan and, for requests with a body, one counter per chunk.
A declared `Content-Length` over the limit is answered 413 at once, unread; a body that is
streamed without one (chunked) is counted as the app reads it, and the read that goes over
raises a 413 the error handlers turn into the Cloudify body. The two upload routes stream
their bodies themselves under the larger QD_MAX_UPLOAD_BYTES (manager.uploads) and are left
alone here. Workers' reports carry whatever runtime properties and logs a plugin produced: a
report refused for its size would be sent again and again, so the worker routes are held to
QD_MAX_UPLOAD_BYTES instead (they are still counted before the worker token is checked).
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from manager.api.errors import error_response

# The routes of workers' claims, heartbeats, logs and results (manager.api.workers).
WORKER_ROUTES = re.compile(r"/api/v3\.1/worker/.*")
# (method, path) of the routes that take an archive as their body.
UPLOAD_ROUTES = (
    ("PUT", re.compile(r"/api/v3\.1/blueprints/[^/]+")),
    ("POST", re.compile(r"/api/v3\.1/plugins/?")),
)


class BodyTooLarge(HTTPException):
    """Raised from `receive`: FastAPI re-raises HTTP exceptions met while reading a body."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(
            413, f"The request body is larger than the limit of {limit} bytes ({setting})"
        )


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_worker_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes
        self.worker_limit = max_worker_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_upload(scope):
            await self.app(scope, receive, send)
            return
        limit, setting = self.limit, "QD_MAX_BODY_BYTES"
        if WORKER_ROUTES.fullmatch(scope["path"]):
            limit, setting = self.worker_limit, "QD_MAX_UPLOAD_BYTES"
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response(
                413,
                f"The request body is {declared} bytes; at most {limit} are allowed ({setting})",
                "bad_parameters_error",
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        await self.app(scope, counted_receive, send)


def _is_upload(scope: Scope) -> bool:
    method, path = scope["method"], scope["path"]
    return any(method == m and pattern.fullmatch(path) for m, pattern in UPLOAD_ROUTES)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
