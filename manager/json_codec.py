"""JSON for the database's JSON columns and the API's busiest answers.

orjson decodes and encodes several times faster than the standard library, and JSON columns
are a large share of the API's work (a node's properties and operations, a context, a
result). Where orjson refuses a value the standard library takes (an integer beyond 64 bits,
`NaN` in a row an older release wrote to SQLite), the standard library does it, so nothing
that was stored or read before fails now.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps_bytes(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Compact UTF-8 JSON of `value`; `default` converts what JSON does not know."""
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS)
    except TypeError:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
        return text.encode()


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """dumps_bytes as text (what SQLite's JSON columns store)."""
    return dumps_bytes(value, default).decode()


def loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
