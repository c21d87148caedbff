"""Reading request bodies with a size limit, and naming rules for stored resources."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator

from fastapi import Request
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartParser

from manager.errors import BadParameters, PayloadTooLarge

# Ids become directory names under the data directory: no separators, no leading dot.
# Matched with fullmatch: `$` would also accept a trailing newline (`x\n`).
_ID = re.compile(r"[A-Za-z0-9_@+\-][A-Za-z0-9_.@+\-]{0,254}")


def check_id(kind: str, value: str) -> str:
    if not _ID.fullmatch(value) or ".." in value:
        raise BadParameters(
            f"The {kind} id `{printable(value)}` is invalid: use letters, digits and `_ . @ + -`, "
            "up to 255 characters, not starting with a dot"
        )
    return value


def printable(value: str) -> str:
    """`value` with control characters escaped (`x\\n`), for error messages."""
    return value.encode("unicode_escape").decode("ascii") if not value.isprintable() else value


async def limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The upload is {declared} bytes; at most {limit} are allowed")
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"The upload is larger than the limit of {limit} bytes")
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in limited_stream(request, limit)])


async def read_form(request: Request, limit: int) -> FormData:
    parser = MultiPartParser(
        request.headers, limited_stream(request, limit), max_files=4, max_fields=16
    )
    try:
        return await parser.parse()
    except PayloadTooLarge:
        raise
    except Exception as exc:  # the parser raises its own error types on malformed bodies
        raise BadParameters(f"Malformed multipart body: {exc}") from None
