"""What the request-body limit (manager.api.body_limit.BodyLimit) adds to a request.

Calls a minimal ASGI app directly, with and without the middleware around it, the way the
server would: a worker-report-like POST (8 headers, a 2 KiB body in one message) and a GET
with no body. Prints microseconds per request and the difference; asserts nothing.

    python bench/body_limit.py [--requests 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.types import Receive, Scope, Send  # noqa: E402

from manager.api.body_limit import BodyLimit  # noqa: E402

HEADERS = [
    (b"host", b"127.0.0.1:8100"),
    (b"user-agent", b"python-httpx/0.28"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
    (b"authorization", b"Bearer worker-token"),
    (b"content-type", b"application/json"),
]


async def reader_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body like a route does, then answers."""
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def run(app: Any, method: str, body: bytes, requests: int) -> float:
    headers = HEADERS + ([(b"content-length", str(len(body)).encode())] if body else [])
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(_: dict[str, Any]) -> None:
        return None

    began = time.perf_counter()
    for _ in range(requests):
        scope = {
            "type": "http",
            "method": method,
            "path": "/api/v3.1/workers/results",
            "headers": headers,
        }
        await app(scope, receive, send)
    return (time.perf_counter() - began) / requests * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    limited = BodyLimit(reader_app, max_body_bytes=8 << 20, max_worker_body_bytes=200 << 20)
    for method, body in (("POST", b"x" * 2048), ("GET", b"")):
        bare = min([await run(reader_app, method, body, args.requests) for _ in range(3)])
        wrapped = min([await run(limited, method, body, args.requests) for _ in range(3)])
        print(
            f"{method}: without {bare:.2f} us, with the body limit {wrapped:.2f} us per request "
            f"(+{wrapped - bare:.2f} us)"
        )


if __name__ == "__main__":
    asyncio.run(main())
