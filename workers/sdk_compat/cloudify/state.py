"""`cloudify.state`: the current context and `ctx_parameters` (the operation inputs)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from quarterdeck.context import OperationContext, ctx, current


class _CurrentContext:
    def get_ctx(self) -> OperationContext:
        return current()


class _Parameters(Mapping[str, Any]):
    """Read-only view of the running operation's inputs."""

    def _inputs(self) -> dict[str, Any]:
        return current().inputs

    def __getitem__(self, key: str) -> Any:
        return self._inputs()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inputs())

    def __len__(self) -> int:
        return len(self._inputs())

    def __getattr__(self, name: str) -> Any:
        try:
            return self._inputs()[name]
        except KeyError:
            raise AttributeError(name) from None


current_ctx = _CurrentContext()
ctx_parameters = _Parameters()

__all__ = ["ctx", "ctx_parameters", "current_ctx"]

# cloudify-common's `cloudify.utils` imports these names (used only by its workflow code);
# they exist so that its REST client can be imported next to this package.
workflow_parameters = None
workflow_ctx = None
