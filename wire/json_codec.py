"""JSON as Quarterdeck writes and reads it: the database's JSON columns, the API's busiest
answers, and what workers send the API and their operations' processes.

orjson decodes and encodes several times faster than the standard library, and JSON is a
large share of the work on both sides (a node's properties and operations, a context, a
result). Where orjson refuses a value the standard library takes (an integer beyond 64 bits,
`NaN` in a row an older release wrote to SQLite), the standard library does it, so nothing
that was stored or read before fails now. Without orjson installed (wire needs only the
standard library), the standard library does everything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - every Quarterdeck install has it
    orjson = None  # type: ignore[assignment]


def dumps_bytes(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Compact UTF-8 JSON of `value`; `default` converts what JSON does not know."""
    if orjson is not None:
        try:
            return orjson.dumps(value, default=default, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            pass
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
    return text.encode()


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """dumps_bytes as text (what SQLite's JSON columns store)."""
    return dumps_bytes(value, default).decode()


def loads(data: str | bytes) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
