"""Cloudify's `ctx` command-line argument walk over a context object (plugin-dispatch.md §13.2)."""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class WalkError(Exception):
    """The arguments do not name anything: reported to the `ctx` caller as an error."""


def parse_path(path: str) -> list[str | int]:
    steps: list[str | int] = []
    position = 0
    for match in _PART.finditer(path):
        if match.start() != position and path[position : match.start()] != ".":
            raise WalkError(f"illegal path: {path}")
        key, index = match.groups()
        steps.append(int(index) if index is not None else key)
        position = match.end()
    if not steps or position != len(path):
        raise WalkError(f"illegal path: {path}")
    return steps


def get_path(data: Any, path: str) -> Any:
    current = data
    for step in parse_path(path):
        try:
            current = current[step]
        except (KeyError, IndexError, TypeError):
            raise WalkError(f"illegal path: {path}") from None
    return current


def set_path(data: MutableMapping[str, Any], path: str, value: Any) -> None:
    steps = parse_path(path)
    current: Any = data
    for step, following in zip(steps, steps[1:], strict=False):
        try:
            current = current[step]
        except KeyError:
            current[step] = [] if isinstance(following, int) else {}
            current = current[step]
        except (IndexError, TypeError):
            raise WalkError(f"illegal path: {path}") from None
    try:
        current[steps[-1]] = value
    except (IndexError, TypeError):
        raise WalkError(f"illegal path: {path}") from None


def _call(func: Any, args: Sequence[Any]) -> Any:
    positional = list(args)
    keywords: dict[str, Any] = {}
    # A trailing dict is keyword arguments (`download-resource-and-render p '@{...}'`).
    if positional and isinstance(positional[-1], dict):
        keywords = positional.pop()
    return func(*positional, **keywords)


def walk(root: Any, args: Sequence[Any]) -> Any:
    """Descend attributes, then a mapping path (get or set), or call what is reached."""
    current = root
    remaining = list(args)
    while remaining:
        if isinstance(current, Mapping):
            path = str(remaining[0])
            if len(remaining) == 1:
                return get_path(current, path)
            if len(remaining) == 2:
                if not isinstance(current, MutableMapping):
                    raise WalkError(f"cannot set {path}: read-only")
                set_path(current, path, remaining[1])
                return None
            raise WalkError("Illegal argument while accessing dict")
        if callable(current):
            return _call(current, remaining)
        name = str(remaining.pop(0))
        for candidate in (name, name.replace("-", "_")):
            if not candidate.startswith("_") and hasattr(current, candidate):
                current = getattr(current, candidate)
                break
        else:
            raise WalkError(f"{type(current).__name__} has no attribute {name!r}")
    return current() if callable(current) else current
