"""`cloudify.decorators`: `operation` (Quarterdeck's `@operation`) and `workflow`."""

from collections.abc import Callable
from typing import Any

from quarterdeck.dispatch import operation


def workflow(func: Any = None, **options: Any) -> Any:
    """Marks a workflow function; it is called as it is (`@workflow` or `@workflow(...)`)."""

    def mark(target: Callable[..., Any]) -> Callable[..., Any]:
        target.workflow = True  # type: ignore[attr-defined]
        return target

    return mark(func) if func is not None else mark


__all__ = ["operation", "workflow"]
