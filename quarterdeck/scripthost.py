"""Runs a Python script operation with a real `ctx`, talking to the worker's ctx socket.

`python -m quarterdeck.scripthost script.py [args...]`, with QD_CTX_SOCKET set. The script
runs as `__main__`; `from quarterdeck import ctx` (or `from cloudify import ctx` through
the compatibility package) works, as do exceptions per Cloudify's rules (§13.4).
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import sys
import threading
from typing import Any

from quarterdeck.context import OperationContext, bound
from quarterdeck.dispatch import failure
from quarterdeck.exceptions import NonRecoverableError, RecoverableError
from quarterdeck.runner import decode_value


class SocketBackend:
    """One persistent connection to the operation's ctx server."""

    def __init__(self, path: str) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.connect(path)
        self._reader = self._socket.makefile("rb")
        self._lock = threading.Lock()

    def request(self, args: list[Any]) -> Any:
        with self._lock:
            self._socket.sendall(json.dumps({"args": args}, default=str).encode() + b"\n")
            line = self._reader.readline()
        if not line:
            raise RecoverableError("the worker closed the ctx connection")
        response = json.loads(line)
        if response.get("type") == "error":
            error = response.get("payload") or {}
            message = f"{error.get('type')}: {error.get('message')}"
            if error.get("kind") == "nonrecoverable":
                raise NonRecoverableError(message)
            raise RecoverableError(message)
        return decode_value(response.get("payload"))

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self.request(["__qd_call__", method, params])

    def log(self, record: dict[str, Any]) -> None:
        self.request(["__qd_log__", record])


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    changed = {key: value for key, value in new.items() if key not in old or old[key] != value}
    return {"set": changed, "delete": [key for key in old if key not in new]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write("usage: python -m quarterdeck.scripthost SCRIPT [ARGS...]\n")
        return 2
    script = argv[0]
    backend = SocketBackend(os.environ["QD_CTX_SOCKET"])
    state = backend.request(["__qd_context__"])
    context = OperationContext(state["context"], backend)
    current = state.get("runtime_properties") or {}
    for instance in context.writable_instances():
        if instance.id in current:
            props = instance.runtime_properties
            props.clear()
            props.update(current[instance.id])
            props.mark_saved()  # type: ignore[union-attr]

    # Cloudify gives in-process Python scripts these on ctx as well.
    def returns(value: Any) -> None:
        # Not the `returns` walk: a dict value would be taken as keyword arguments there.
        backend.request(["__qd_returns__", value])

    def abort_operation(message: str | None = None) -> None:
        backend.request(["abort-operation", message])

    def retry_operation(message: str | None = None, retry_after: float | None = None) -> None:
        backend.request(["retry-operation", message, retry_after])

    context.returns = returns  # type: ignore[attr-defined]
    context.abort_operation = abort_operation  # type: ignore[attr-defined]
    context.retry_operation = retry_operation  # type: ignore[attr-defined]

    code = 0
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    with bound(context):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:
            backend.request(["__qd_fail__", failure(exc)])
            code = 1
        finally:
            sync = {
                instance.id: _diff(
                    instance.runtime_properties.snapshot(),  # type: ignore[union-attr]
                    dict(instance.runtime_properties),
                )
                for instance in context.writable_instances()
                if instance.dirty
            }
            if sync:
                backend.request(["__qd_sync__", sync])
            retry = context.operation.retry_requested
            if retry is not None:
                retry_operation(str(retry), retry.retry_after)
            context.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
