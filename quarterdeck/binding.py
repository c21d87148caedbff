"""What `ctx` means while an operation or a workflow runs: a value bound for one block, per
thread and per asyncio task, and the proxy that forwards `ctx.<name>` to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Binding(Generic[T]):
    """One context variable: `bound(value)` sets it for a block, `current()` reads it."""

    __slots__ = ("_var", "_unbound_message")

    def __init__(self, name: str, unbound_message: str) -> None:
        self._var: ContextVar[T | None] = ContextVar(name, default=None)
        self._unbound_message = unbound_message

    def peek(self) -> T | None:
        """The bound value, or None outside any block."""
        return self._var.get()

    def current(self) -> T:
        """The bound value; outside any block, a RuntimeError saying when it is available."""
        value = self._var.get()
        if value is None:
            raise RuntimeError(self._unbound_message)
        return value

    @contextmanager
    def bound(self, value: T) -> Iterator[T]:
        """Make `value` the current one in this thread / task until the block ends."""
        token = self._var.set(value)
        try:
            yield value
        finally:
            self._var.reset(token)


class Proxy:
    """Forwards every attribute to the value bound in `binding` when it is read."""

    def __init__(self, binding: Binding[Any]) -> None:
        # (__getattr__ only runs for names the proxy does not have, so `_current` is found
        # directly; it is the bound method, one lookup less on every `ctx.<name>`.)
        self._current = binding.current

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)
