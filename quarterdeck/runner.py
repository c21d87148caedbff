"""Runner main loop: executes operations for a worker, speaking JSON lines over stdin/stdout.

Run inside a plugin virtualenv as `python -m quarterdeck.runner`. Messages, one JSON
object per line:

worker -> runner
    {"type": "run", "context": {...operation context...}}
    {"type": "reply", "call_id": n, "ok": true, "value": v}
    {"type": "reply", "call_id": n, "ok": false, "error": {"type", "message", "kind"}}
    {"type": "exit"}
runner -> worker
    {"type": "ready", "pid": n, "python": path}
    {"type": "log", "operation_id": id, "record": {"level", "message", "timestamp", "logger"}}
    {"type": "call", "call_id": n, "method": m, "params": {...}}   then waits for its reply
    {"type": "result", "operation_id": id, "outcome": {...}}

Bytes (resources) travel as {"__bytes__": "<base64>"}.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import threading
from typing import Any, BinaryIO

from quarterdeck.context import OperationContext
from quarterdeck.dispatch import run_operation
from quarterdeck.exceptions import NonRecoverableError, RecoverableError

OUTPUT_END = b"\0qd-output-end\n"


def encode_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"__bytes__"}:
        return base64.b64decode(value["__bytes__"])
    return value


def raise_remote_error(error: dict[str, Any]) -> None:
    message = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    if error.get("kind") == "nonrecoverable":
        raise NonRecoverableError(message)
    raise RecoverableError(message)


class Channel:
    """The protocol streams, safe to write from plugin threads (loggers)."""

    def __init__(self, incoming: BinaryIO, outgoing: BinaryIO) -> None:
        self._in = incoming
        self._out = outgoing
        self._write_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self._next_call = 0

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, default=str).encode() + b"\n"
        with self._write_lock:
            self._out.write(data)
            self._out.flush()

    def receive(self) -> dict[str, Any] | None:
        line = self._in.readline()
        return json.loads(line) if line else None

    def call(self, method: str, params: dict[str, Any]) -> Any:
        # One call at a time: replies are matched in order on a single stream.
        with self._call_lock:
            self._next_call += 1
            call_id = self._next_call
            self.send({"type": "call", "call_id": call_id, "method": method, "params": params})
            while True:
                message = self.receive()
                if message is None:
                    raise SystemExit(0)  # the worker is gone: nothing left to report to
                if message.get("type") == "reply" and message.get("call_id") == call_id:
                    break
        if not message.get("ok"):
            raise_remote_error(message.get("error") or {})
        return decode_value(message.get("value"))


class PipeBackend:
    """The SDK context's way to the worker inside a runner."""

    def __init__(self, channel: Channel, operation_id: str) -> None:
        self._channel = channel
        self._operation_id = operation_id

    def call(self, method: str, params: dict[str, Any]) -> Any:
        return self._channel.call(method, params)

    def log(self, record: dict[str, Any]) -> None:
        self._channel.send({"type": "log", "operation_id": self._operation_id, "record": record})


def _take_protocol_fds() -> Channel:
    """Keep fds 0/1 for the protocol only; plugin code gets /dev/null and stderr instead.

    A plugin's print() or a C library writing to fd 1 would otherwise corrupt the stream.
    """
    sys.stdout.flush()
    incoming = os.fdopen(os.dup(0), "rb")
    outgoing = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process
    return Channel(incoming, outgoing)


def execute(channel: Channel, context_data: dict[str, Any]) -> dict[str, Any]:
    operation_id = str(context_data.get("operation_id"))
    context = OperationContext(context_data, PipeBackend(channel, operation_id))
    try:
        return run_operation(context)
    finally:
        context.close()


def main() -> None:
    # `-m` puts the current directory first on sys.path; plugin imports must not see it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path.pop(0)
    channel = _take_protocol_fds()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    channel.send({"type": "ready", "pid": os.getpid(), "python": sys.executable})
    while True:
        message = channel.receive()
        if message is None or message.get("type") == "exit":
            return
        if message.get("type") != "run":
            continue
        context_data = message["context"]
        outcome = execute(channel, context_data)
        sys.stdout.flush()
        sys.stderr.flush()
        # Tells the worker that the operation's output on fd 2 is complete, so it can
        # deliver every output line before the result.
        os.write(2, OUTPUT_END)
        channel.send(
            {"type": "result", "operation_id": context_data.get("operation_id"), "outcome": outcome}
        )


if __name__ == "__main__":
    main()
