"""Calling one operation function and turning what happened into an outcome dict."""

from __future__ import annotations

import importlib
import inspect
import json
import traceback
from collections.abc import Callable
from typing import Any, TypeVar, overload

from quarterdeck.context import OperationContext, bound
from quarterdeck.exceptions import NonRecoverableError
from quarterdeck.props import json_copy

F = TypeVar("F", bound=Callable[..., Any])

_accepts_ctx_cache: dict[Any, bool] = {}


class DispatchError(NonRecoverableError):
    """A problem calling the operation (bad task name, bad result): retrying cannot fix it."""


@overload
def operation(func: F) -> F: ...
@overload
def operation(func: None = None, *, resumable: bool = False) -> Callable[[F], F]: ...


def operation(func: Any = None, *, resumable: bool = False) -> Any:
    """Mark a plugin operation; `resumable=True` lets it run again after a worker loss.

    The function itself is returned (no wrapper), so a decorated call costs nothing.
    """

    def mark(target: F) -> F:
        target._qd_operation = True  # type: ignore[attr-defined]
        target._qd_resumable = resumable  # type: ignore[attr-defined]
        return target

    return mark(func) if func is not None else mark


def load_function(task_name: str) -> Callable[..., Any]:
    """Import `package.module.function`; modules stay cached in sys.modules (warm runners)."""
    module_name, _, func_name = task_name.rpartition(".")
    if not module_name:
        raise DispatchError(f"Invalid task name {task_name!r}: expected module.function")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise DispatchError(f"No module named {exc.name} ({task_name})") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise DispatchError(f"{module_name} has no function named {func_name!r}")
    return func


def accepts_ctx(func: Callable[..., Any]) -> bool:
    """Cloudify passes `ctx=` to every function; plain functions get it only if they take it."""
    cached = _accepts_ctx_cache.get(func)
    if cached is None:
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):  # builtins without a signature
            params = []
        cached = any(p.name == "ctx" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        _accepts_ctx_cache[func] = cached
    return cached


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def classify(exc: BaseException) -> tuple[str, float | None]:
    """(kind, retry_after), by class name so real cloudify-common exceptions count too."""
    names = _class_names(exc)
    retry_after = getattr(exc, "retry_after", None)
    if "OperationRetry" in names:
        return "retry", retry_after
    if "NonRecoverableError" in names:
        return "nonrecoverable", None
    # RecoverableError and every other exception are retried, as in Cloudify.
    return "recoverable", retry_after if "RecoverableError" in names else None


def failure(
    exc: BaseException, kind: str | None = None, message: str | None = None
) -> dict[str, Any]:
    auto_kind, retry_after = classify(exc)
    kind = kind or auto_kind
    outcome: dict[str, Any] = {
        "status": "failed",
        "kind": kind,
        "message": message if message is not None else str(exc),
        "exc_type": type(exc).__name__,
        # Cloudify omits the traceback of a retry request: it is not an error.
        "traceback": "" if kind == "retry" else "".join(traceback.format_exception(exc)),
        "retry_after": float(retry_after) if retry_after is not None else None,
        "runtime_properties": {},
    }
    causes = getattr(exc, "causes", None)
    if causes:
        outcome["causes"] = list(causes)
    return outcome


def changed_runtime_properties(context: OperationContext) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for instance in context.writable_instances():
        if instance.dirty:
            changed[instance.id] = {
                "version": instance.version,
                "runtime_properties": json_copy(dict(instance.runtime_properties)),
            }
    return changed


def run_operation(
    context: OperationContext,
    func: Callable[..., Any] | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `func` (else the context's task_name) with ctx bound; never raises."""
    outcome: dict[str, Any]
    with bound(context):
        try:
            if func is None:
                func = load_function(str(context.task_name))
            if context.resume and not getattr(func, "_qd_resumable", False):
                raise DispatchError(f"Cannot resume: {context.task_name} is not marked resumable")
            kwargs = dict(context.inputs if inputs is None else inputs)
            if accepts_ctx(func):
                kwargs["ctx"] = context
            result = func(**kwargs)
            retry = context.operation.retry_requested
            if retry is not None:
                outcome = failure(retry)
            else:
                outcome = {"status": "succeeded", "result": _json_value(result, "result")}
        except BaseException as exc:  # SystemExit in a plugin must not end a runner
            outcome = failure(exc)
    try:
        # Cloudify saves runtime properties even when the operation failed.
        outcome["runtime_properties"] = changed_runtime_properties(context)
    except (TypeError, ValueError) as exc:
        outcome = failure(
            exc, kind="nonrecoverable", message=f"runtime properties are not JSON data: {exc}"
        )
    return outcome


def _json_value(value: Any, what: str) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise DispatchError(f"operation {what} is not JSON serializable: {exc}") from exc
    return value
