"""Warm runner processes per plugin virtualenv: run one operation, with timeouts and crashes.

The operation context a worker passes to `RunnerPool.run` is the dict the API returns on
claim (see the brief in workers/README or the tests). Optional keys understood here:
  - `resume` (bool): the attempt is a re-delivery; non-resumable operations then fail.
  - `isolation` ("process"), also read from `plugin.properties.isolation`: run this
    operation in a fresh runner that is discarded afterwards.
  - `instance.relationships[i].target`: {"node", "instance"} of the relationship target, so
    `rel.target.node.properties` works; without it only ids and names are known.
Outcome keys beyond the brief: `causes` (explicit causes of an exception) and
`cancelled: true` when `kill()` ended the operation.

Runtime properties handed over by `ctx.instance.update()` are kept by the worker side and
reported in the outcome even if the runner then crashes or times out. A plugin's own
stdout/stderr lines reach `on_log` (logger "plugin.output") from a reader thread, all of
them before `run` returns (lines from plugin threads still running after it are dropped).
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypedDict, cast

from quarterdeck.context import timestamp
from quarterdeck.runner import OUTPUT_END, encode_value
from wire import json_codec
from wire.operations import Failed, FailureKind, Outcome
from workers.isolation import Sandbox, allowed_environment, default_sandbox
from workers.venvs import COMPAT_DIR, ensure_sdk_dir

_log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20
OUTPUT_GRACE_SECONDS = 2.0


class LogRecord(TypedDict):
    level: str
    message: str
    timestamp: str
    logger: str


class Callbacks(Protocol):
    """What an operation needs from the worker (which asks the API). Must be thread-safe:
    log lines of a plugin's stderr arrive from a reader thread."""

    def get_secret(self, key: str) -> Any:
        """The secret's value; raise KeyError if there is none."""
        ...

    def get_resource(self, path: str) -> bytes:
        """A deployment or blueprint resource not found under the local directories;
        raise FileNotFoundError if there is none."""
        ...

    def on_log(self, record: LogRecord) -> None: ...

    def workflow(self, request: dict[str, Any]) -> Any:
        """A custom workflow body's request to its execution (`wire.workflows`)."""
        ...

    def on_event(self, event: dict[str, Any]) -> None:
        """`ctx.send_event`: {"event_type", "message", "arguments", "timestamp"}."""
        ...


def failed(
    kind: str,
    message: str,
    exc_type: str,
    *,
    traceback: str = "",
    retry_after: float | None = None,
    causes: list[dict[str, Any]] | None = None,
    cancelled: bool = False,
) -> Failed:
    """A failed attempt's outcome (`kind`: one of wire.operations.FailureKind)."""
    outcome: Failed = {
        "status": "failed",
        "kind": cast(FailureKind, kind),
        "message": message,
        "exc_type": exc_type,
        "traceback": traceback,
        "retry_after": retry_after,
        "runtime_properties": {},
    }
    if causes is not None:
        outcome["causes"] = causes
    if cancelled:
        outcome["cancelled"] = True
    return outcome


def timeout_failure(context: Mapping[str, Any], seconds: float) -> Failed:
    kind = "recoverable" if context.get("timeout_recoverable") else "nonrecoverable"
    return failed(kind, f"Process killed due to timeout of {seconds:g} seconds", "TimeoutError")


def error_kind(exc: BaseException) -> str:
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "NonRecoverableError" in names or isinstance(exc, LookupError | FileNotFoundError):
        return "nonrecoverable"
    return "recoverable"


class CallbackBackend:
    """Serves an operation's ctx calls from the worker: local resources, then the callbacks.

    It also keeps `ctx.instance.update()` checkpoints, which belong to the outcome even if
    the process that made them dies.
    """

    def __init__(self, context: Mapping[str, Any], callbacks: Callbacks) -> None:
        self._context = context
        self._callbacks = callbacks
        self.checkpoints: dict[str, dict[str, Any]] = {}

    def log(self, record: dict[str, Any]) -> None:
        try:
            self._callbacks.on_log(record)  # type: ignore[arg-type]
        except Exception:
            _log.exception("on_log callback failed")

    def output_line(self, line: str, logger: str = "plugin.output") -> None:
        self.log(
            {
                "level": "info",
                "message": line,
                "timestamp": timestamp(time.time()),
                "logger": logger,
            }
        )

    def call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "get_secret":
            return self._callbacks.get_secret(str(params["key"]))
        if method == "get_resource":
            return self.get_resource(str(params["path"]))
        if method == "send_event":
            self._callbacks.on_event(
                {
                    "event_type": params.get("event_type") or "plugin_event",
                    "message": params.get("message"),
                    "arguments": params.get("args"),
                    "timestamp": timestamp(time.time()),
                }
            )
            return None
        if method == "workflow":
            return self._callbacks.workflow(params)
        if method == "update_instance":
            self.checkpoints[str(params["instance_id"])] = {
                "version": params.get("version"),
                "runtime_properties": params.get("runtime_properties") or {},
            }
            return None
        raise NotImplementedError(f"unknown ctx call {method!r}")

    def reply(self, message: Mapping[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = {"type": "reply", "call_id": message.get("call_id")}
        try:
            value = self.call(str(message.get("method")), dict(message.get("params") or {}))
        except Exception as exc:
            reply.update(
                ok=False,
                error={"type": type(exc).__name__, "message": str(exc), "kind": error_kind(exc)},
            )
        else:
            reply.update(ok=True, value=encode_value(value))
        return reply

    def get_resource(self, path: str) -> bytes:
        for key in ("deployment_dir", "blueprint_dir"):
            base = self._context.get(key)
            if not base:
                continue
            root = Path(base).resolve()
            candidate = (root / path).resolve()
            if not candidate.is_relative_to(root):
                raise PermissionError(f"resource path {path!r} escapes the {key}")
            if candidate.is_file():
                return candidate.read_bytes()
        return self._callbacks.get_resource(path)

    def with_checkpoints(self, outcome: Outcome) -> Outcome:
        merged = dict(self.checkpoints)
        merged.update(outcome.get("runtime_properties") or {})
        outcome["runtime_properties"] = merged
        return outcome


class RunnerStartError(Exception):
    pass


class _Timeout(Exception):
    pass


class _Gone(Exception):
    pass


class _Runner:
    """One `python -m quarterdeck.runner` process and the reading side of its pipes.

    It runs as the sandbox's user, in a HOME and working directory of its own (removed
    with it): privileges are dropped once per runner, not once per operation.
    """

    def __init__(
        self, python: str, env: Mapping[str, str], sandbox: Sandbox, home_root: Path
    ) -> None:
        self.python = python
        self.killed = False
        self.home = sandbox.private_dir(home_root, "runner-")
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.sink: Callable[[str], None] | None = None
        self.output_done = threading.Event()
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "quarterdeck.runner"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**env, "HOME": str(self.home)},
                cwd=self.home,
                bufsize=0,
                # Own process group: a kill reaches whatever the plugin spawned, and a Ctrl-C
                # meant for the worker does not reach plugin code.
                start_new_session=True,
                **sandbox.popen_options(),
            )
        except BaseException:
            shutil.rmtree(self.home, ignore_errors=True)
            raise
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self._out_fd = self.proc.stdout.fileno()
        self._poller = select.poll()
        self._poller.register(self._out_fd, select.POLLIN)
        self._buffer = bytearray()
        self._stderr_thread = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_thread.start()

    def _pump_stderr(self) -> None:
        assert self.proc.stderr
        marker = OUTPUT_END.rstrip(b"\n")
        for raw in iter(self.proc.stderr.readline, b""):
            done = marker in raw
            if done:  # output without a final newline shares the marker's line
                raw = raw.replace(marker, b"")
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line or not done:
                self.stderr_tail.append(line)
                sink = self.sink
                if sink is not None:
                    sink(line)
            if done:
                self.output_done.set()

    def send(self, message: Mapping[str, Any]) -> None:
        data = memoryview(json_codec.dumps_bytes(message) + b"\n")
        assert self.proc.stdin
        try:
            while data:
                written = self.proc.stdin.write(data)
                data = data[written or 0 :]
        except (BrokenPipeError, ValueError) as exc:
            raise _Gone from exc

    def receive(self, deadline: float | None) -> dict[str, Any]:
        while (end := self._buffer.find(b"\n")) < 0:
            wait_ms = None
            if deadline is not None:
                wait_ms = max(0, int((deadline - time.monotonic()) * 1000) + 1)
            if not self._poller.poll(wait_ms):
                raise _Timeout
            chunk = os.read(self._out_fd, 1 << 16)
            if not chunk:
                raise _Gone
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        answer: dict[str, Any] = json_codec.loads(line)
        return answer

    def wait_ready(self, timeout: float) -> None:
        try:
            message = self.receive(time.monotonic() + timeout)
        except (_Gone, _Timeout) as exc:
            self.terminate()
            code = self.proc.returncode
            reason = "timed out" if isinstance(exc, _Timeout) else _exit_text(code)
            raise RunnerStartError(f"{self.python}: {reason}; {self.stderr_text()}") from None
        if message.get("type") != "ready":
            self.terminate()
            raise RunnerStartError(f"{self.python}: unexpected first message {message!r}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> int:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        code = self.proc.wait()
        self._stderr_thread.join(timeout=1)
        self._close_pipes()
        shutil.rmtree(self.home, ignore_errors=True)
        return code

    def stop(self) -> None:
        """Ask politely (lets the interpreter flush), then kill."""
        try:
            self.send({"type": "exit"})
            self.proc.wait(timeout=1)
        except (_Gone, subprocess.TimeoutExpired):
            pass
        self.terminate()

    def _close_pipes(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def stderr_text(self) -> str:
        lines = list(self.stderr_tail)
        return "last stderr lines:\n" + "\n".join(lines) if lines else "no stderr output"


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def wants_isolation(context: Mapping[str, Any]) -> bool:
    plugin = context.get("plugin") or {}
    isolation = (plugin.get("properties") or {}).get("isolation")
    if isinstance(isolation, Mapping):  # plugin.yaml's `{value: process}` form
        isolation = isolation.get("value", isolation.get("default"))
    return "process" in (context.get("isolation"), isolation)


class RunnerPool:
    """Long-lived runners, one per venv python while idle, at most `max_runners` processes
    kept (least recently used idle ones are stopped first). Thread-safe: each concurrent
    `run` gets its own runner."""

    def __init__(
        self,
        max_runners: int = 8,
        sdk_root: Path | None = None,
        startup_timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        sandbox: Sandbox | None = None,
        home_root: Path | None = None,
        rest_env: Mapping[str, str] | None = None,
    ) -> None:
        self.max_runners = max_runners
        self.startup_timeout = startup_timeout
        self.sandbox = sandbox or default_sandbox()
        scratch = Path(tempfile.gettempdir())
        root = sdk_root or scratch / f"quarterdeck-sdk-{os.getuid()}"
        self.home_root = home_root or (
            root.parent / "runners" if sdk_root else scratch / f"quarterdeck-runners-{os.getuid()}"
        )
        # Plugin code gets an allow-listed environment: never the worker's own settings
        # (its token), nor anything else the operator did not name.
        base_env = allowed_environment(
            os.environ if env is None else env, self.sandbox.env_patterns
        )
        # The API's address (REST_HOST, ...), for `get_rest_client()` and `ctx.get_tenant()`.
        base_env.update(rest_env or {})
        # The `cloudify` compatibility package and the built-in `cloudify_types` operations
        # come after the SDK (a plugin venv with cloudify-common runs through its dispatch).
        path = [str(ensure_sdk_dir(root)), str(COMPAT_DIR)]
        if base_env.get("PYTHONPATH"):
            path.append(base_env["PYTHONPATH"])
        base_env["PYTHONPATH"] = os.pathsep.join(path)
        self._env = base_env
        self._lock = threading.Lock()
        self._idle: list[_Runner] = []  # least recently used first
        self._busy: dict[str, _Runner] = {}

    # public API ---------------------------------------------------------------------------
    def run(
        self,
        venv_python: str,
        context: Mapping[str, Any],
        callbacks: Callbacks,
        timeout: float | None = None,
    ) -> Outcome:
        """Run one operation; never raises for the operation's own faults."""
        operation_id = str(context.get("operation_id"))
        limit = timeout if timeout is not None else context.get("timeout")
        deadline = time.monotonic() + float(limit) if limit else None
        isolated = wants_isolation(context)
        backend = CallbackBackend(context, callbacks)
        try:
            runner = self._acquire(venv_python, fresh=isolated)
        except (RunnerStartError, OSError) as exc:
            return failed("recoverable", f"runner failed to start: {exc}", "RunnerStartError")
        with self._lock:
            self._busy[operation_id] = runner
        runner.sink = backend.output_line
        reusable = not isolated
        try:
            outcome = self._converse(runner, context, backend, deadline)
        except _Timeout:
            reusable = False
            runner.terminate()
            outcome = timeout_failure(context, float(limit or 0))
        except _Gone:
            reusable = False
            code = runner.terminate()
            if runner.killed:
                outcome = failed(
                    "nonrecoverable",
                    "operation killed (force-cancel)",
                    "OperationKilled",
                    cancelled=True,
                )
            else:
                outcome = failed(
                    "recoverable",
                    f"runner crashed: {_exit_text(code)}, {runner.stderr_text()}",
                    "RunnerCrashed",
                )
        finally:
            runner.sink = None
            with self._lock:
                self._busy.pop(operation_id, None)
            self._release(runner, reusable)
        return backend.with_checkpoints(outcome)

    def warm(self, venv_python: str) -> None:
        """Start a runner for `venv_python` ahead of its first operation."""
        self._release(self._acquire(venv_python, fresh=False), True)

    def kill(self, operation_id: str) -> bool:
        """Force-cancel: SIGKILL the runner of a running operation. True if there was one."""
        with self._lock:
            runner = self._busy.get(operation_id)
        if runner is None:
            return False
        runner.killed = True
        try:
            os.killpg(runner.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return True

    def discard(self, venv_python: str) -> int:
        """Stop the idle runners of `venv_python` (after its venv was rebuilt: a warm runner
        would keep the old modules imported). Returns how many were stopped."""
        with self._lock:
            victims = [r for r in self._idle if r.python == venv_python]
            self._idle = [r for r in self._idle if r.python != venv_python]
        for runner in victims:
            runner.stop()
        return len(victims)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            busy = list(self._busy.values())
        for runner in idle:
            runner.stop()
        for runner in busy:
            runner.killed = True
            runner.terminate()

    def __enter__(self) -> RunnerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def runner_pids(self) -> list[int]:
        """Pids of all runner processes (idle and busy), for diagnostics and tests."""
        with self._lock:
            return [r.proc.pid for r in [*self._idle, *self._busy.values()]]

    # internals ------------------------------------------------------------------------------
    def _converse(
        self,
        runner: _Runner,
        context: Mapping[str, Any],
        backend: CallbackBackend,
        deadline: float | None,
    ) -> Outcome:
        """The outcome the runner prints for the operation (in wire.operations' shape)."""
        operation_id = context.get("operation_id")
        runner.output_done.clear()
        runner.send({"type": "run", "context": context})
        while True:
            message = runner.receive(deadline)
            kind = message.get("type")
            if kind == "log":
                # A plugin thread may still log after its operation ended: drop it.
                if message.get("operation_id") == operation_id:
                    backend.log(message.get("record") or {})
            elif kind == "call":
                runner.send(backend.reply(message))
            elif kind == "result":
                # Deliver the plugin's stdout/stderr lines before reporting the result.
                runner.output_done.wait(OUTPUT_GRACE_SECONDS)
                return cast(Outcome, dict(message.get("outcome") or {}))

    def _acquire(self, python: str, fresh: bool) -> _Runner:
        if not fresh:
            stale: list[_Runner] = []
            found: _Runner | None = None
            with self._lock:
                for index in range(len(self._idle) - 1, -1, -1):
                    candidate = self._idle[index]
                    if candidate.python != python:
                        continue
                    del self._idle[index]
                    if candidate.alive():
                        found = candidate
                        break
                    stale.append(candidate)
            for runner in stale:
                runner.terminate()
            if found is not None:
                return found
        runner = _Runner(python, self._env, self.sandbox, self.home_root)
        runner.wait_ready(self.startup_timeout)
        return runner

    def _release(self, runner: _Runner, reusable: bool) -> None:
        if not reusable or not runner.alive():
            if runner.alive():
                runner.stop()  # an isolated runner that did its one operation: exit cleanly
            else:
                runner.terminate()
            return
        evicted: list[_Runner] = []
        with self._lock:
            self._idle.append(runner)
            while self._idle and len(self._idle) + len(self._busy) > self.max_runners:
                evicted.append(self._idle.pop(0))
        for victim in evicted:
            victim.stop()


def worker_python() -> str:
    """The interpreter for operations of plugins that need no venv (the worker's own)."""
    return sys.executable
