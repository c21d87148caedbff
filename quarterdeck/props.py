"""Dictionaries behind ctx: runtime properties with deep dirty detection, read-only properties."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from quarterdeck.exceptions import NonRecoverableError


def json_copy(value: Any) -> Any:
    """Deep copy of JSON-shaped data (much faster than copy.deepcopy for it)."""
    return json.loads(json.dumps(value))


class RuntimeProperties(dict[str, Any]):
    """A node instance's runtime properties.

    Cloudify only notices top-level writes, so `rp["a"]["b"] = 1` is silently lost there.
    Here dirtiness is a deep comparison with a snapshot taken when the operation started,
    so nested in-place changes are saved too.
    """

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        super().__init__(json_copy(data or {}))
        self._snapshot: dict[str, Any] = json_copy(dict(self))

    @property
    def dirty(self) -> bool:
        return dict(self) != self._snapshot

    def mark_saved(self) -> None:
        """Take a new snapshot: what is there now counts as stored."""
        self._snapshot = json_copy(dict(self))

    def snapshot(self) -> dict[str, Any]:
        return json_copy(self._snapshot)


class ReadOnlyDict(dict[str, Any]):
    """Node properties and relationship targets' runtime properties: writes are refused."""

    def __init__(self, data: dict[str, Any] | None = None, what: str = "node properties") -> None:
        super().__init__(data or {})
        self._what = what

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NonRecoverableError(f"Cannot modify {self._what}: they are read-only")

    __setitem__ = _refuse
    __delitem__ = _refuse
    update = _refuse
    pop = _refuse
    popitem = _refuse
    clear = _refuse
    setdefault = _refuse
