"""ASGI middleware giving every request an id, echoed in the response and in the logs."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from manager.logs import request_id

log = logging.getLogger("quarterdeck.access")


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so streaming bodies and speed are untouched.

    manager.api.polling answers its requests before this middleware, with the same id,
    header and access log line (the functions below).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id(scope)
        token = request_id.set(rid)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = with_request_id(message.get("headers", []), rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_access(scope, status["code"], started)
            request_id.reset(token)


def new_request_id(scope: Scope) -> str:
    """The client's `X-Request-Id` when it sends a short one, else a new one."""
    incoming = _header(scope, b"x-request-id")
    return incoming if incoming and len(incoming) <= 64 else uuid.uuid4().hex


def with_request_id(headers: Any, rid: str) -> list[tuple[bytes, bytes]]:
    return [*headers, (b"x-request-id", rid.encode())]


def log_access(scope: Scope, status: int, started: float) -> None:
    log.info(
        "%s %s %s %.1fms",
        scope["method"],
        scope["path"],
        status,
        (time.perf_counter() - started) * 1000,
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
