"""Script operations: run a blueprint script with inputs as env vars and a private `ctx` socket.

Each operation gets its own directory (mode 0700, owned by the operation user: its HOME and
working directory) holding a unix socket served by a thread of the worker; the `ctx` command
(quarterdeck/ctx_cli.py) finds it through QD_CTX_SOCKET, so concurrent scripts never see
each other's context. The socket speaks one JSON object
per line: request {"args": [...]}, response {"type": "result"|"error"|"stop_operation",
"payload": ...} (plugin-dispatch.md §13.2). Results follow §13.4.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

import quarterdeck.ctx_cli
from quarterdeck.context import OperationContext
from quarterdeck.ctx_walk import WalkError, walk
from quarterdeck.dispatch import changed_runtime_properties
from quarterdeck.exceptions import NonRecoverableError
from quarterdeck.runner import encode_value
from wire.operations import Outcome
from workers.isolation import Sandbox, default_sandbox
from workers.runners import (
    CallbackBackend,
    Callbacks,
    error_kind,
    failed,
    timeout_failure,
)
from workers.venvs import COMPAT_DIR, ensure_sdk_dir

_log = logging.getLogger(__name__)
SCRIPT_TASK = "script_runner.tasks.run"
# Inputs of script_runner.tasks.run itself; every other input becomes an env var.
RESERVED_INPUTS = frozenset({"script_path", "script_source", "process", "ssl_cert_content", "ctx"})
TAIL_LINES = 20
MAX_SOCKET_PATH = 100
_UNSET = object()


class _Stop(Exception):
    """abort-operation / retry-operation: the `ctx` caller gets stop_operation."""


class ScriptState:
    """What the script asked for through `ctx returns|abort-operation|retry-operation`."""

    def __init__(self, context: OperationContext) -> None:
        self.context = context
        self.returned: Any = _UNSET
        self.abort: str | None = None
        self.retry: tuple[str, float | None] | None = None
        self.failure: dict[str, Any] | None = None
        self.requests = 0

    def returns(self, value: Any) -> None:
        self.requests += 1
        self.returned = value

    def abort_operation(self, message: str | None = None) -> None:
        self.requests += 1
        self.abort = message or ""
        raise _Stop(self.abort)

    def retry_operation(self, message: str | None = None, retry_after: Any = None) -> None:
        self.requests += 1
        self.retry = (message or "", float(retry_after) if retry_after is not None else None)
        raise _Stop(self.retry[0])

    def __getattr__(self, name: str) -> Any:
        # Everything else (`node`, `instance`, `logger`, ...) is the operation's ctx.
        return getattr(self.context, name)


class CtxServer:
    """The per-operation socket server behind the `ctx` command and the Python script host."""

    def __init__(self, path: str, context_data: Mapping[str, Any], backend: CallbackBackend):
        self.context_data = context_data
        self.backend = backend
        self.context = OperationContext(dict(context_data), backend)
        self.state = ScriptState(self.context)
        self._lock = threading.Lock()  # a script may run several `ctx` calls at once
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(path)
        os.chmod(path, 0o600)
        self._socket.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            for line in reader:
                try:
                    args = list(json.loads(line).get("args") or [])
                except (ValueError, AttributeError):
                    args = None
                response = (
                    self.handle(args)
                    if args is not None
                    else _error(WalkError("malformed request"))
                )
                connection.sendall(json.dumps(response, default=str).encode() + b"\n")

    def handle(self, args: list[Any]) -> dict[str, Any]:
        with self._lock:
            try:
                if args and isinstance(args[0], str) and args[0].startswith("__qd_"):
                    payload = self._internal(args[0], args[1:])
                else:
                    payload = walk(self.state, args)
                return {"type": "result", "payload": encode_value(payload)}
            except _Stop as stop:
                return {"type": "stop_operation", "payload": {"message": str(stop)}}
            except Exception as exc:
                return _error(exc)

    def _internal(self, command: str, args: list[Any]) -> Any:
        """Commands of quarterdeck.scripthost (Python scripts)."""
        if command == "__qd_context__":
            return {
                "context": self.context_data,
                "runtime_properties": {
                    i.id: dict(i.runtime_properties) for i in self.context.writable_instances()
                },
            }
        if command == "__qd_log__":
            self.backend.log(dict(args[0]))
            return None
        if command == "__qd_call__":
            method, params = str(args[0]), dict(args[1])
            if method == "update_instance":
                instance = self._instance(str(params["instance_id"]))
                props = instance.runtime_properties
                props.clear()
                props.update(params.get("runtime_properties") or {})
                instance.update()
                return None
            return self.backend.call(method, params)
        if command == "__qd_sync__":
            for instance_id, diff in dict(args[0]).items():
                props = self._instance(instance_id).runtime_properties
                for key in diff.get("delete") or []:
                    props.pop(key, None)
                props.update(diff.get("set") or {})
            return None
        if command == "__qd_returns__":
            self.state.returns(args[0])
            return None
        if command == "__qd_fail__":
            self.state.failure = dict(args[0])
            return None
        raise WalkError(f"unknown command {command}")

    def _instance(self, instance_id: str) -> Any:
        for instance in self.context.writable_instances():
            if instance.id == instance_id:
                return instance
        raise NonRecoverableError(f"instance {instance_id} is not part of this operation")

    def stop(self) -> None:
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()
        self._thread.join(timeout=2)


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": "error",
        "payload": {
            "type": type(exc).__name__,
            "message": str(exc),
            "kind": error_kind(exc),
            "traceback": ""
            if isinstance(exc, WalkError)
            else "".join(traceback.format_exception(exc)),
        },
    }


def env_value(value: Any) -> str:
    """Cloudify's encoding of inputs as env vars: JSON for containers and booleans."""
    if isinstance(value, dict | list | bool):
        return json.dumps(value)
    if isinstance(value, set | frozenset | tuple):
        return json.dumps(list(value))
    return str(value)


class ScriptExecutor:
    """Runs script operations for a worker. Thread-safe; `kill()` force-cancels one."""

    def __init__(
        self,
        work_dir: Path | None = None,
        python: str | None = None,
        sandbox: Sandbox | None = None,
        rest_env: Mapping[str, str] | None = None,
    ) -> None:
        self.work_dir = Path(work_dir or Path(tempfile.gettempdir()) / f"qd-scripts-{os.getuid()}")
        self.sandbox = sandbox or default_sandbox()
        self.python = python or self.sandbox.python
        self.bin_dir = self.work_dir / "bin"
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        self.sdk_dir = ensure_sdk_dir(self.work_dir / "sdk")
        self._write_ctx_command()
        self._lock = threading.Lock()
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._killed: set[str] = set()
        # Where the API is (REST_HOST, REST_PORT, REST_PROTOCOL), as Cloudify tells scripts.
        self.rest_env = dict(rest_env or {})

    def _write_ctx_command(self) -> None:
        source = Path(quarterdeck.ctx_cli.__file__).read_text()
        # -IS: no site, no env-driven paths: the client is stdlib-only and starts fastest so.
        content = f"#!{self.python} -IS\n{source}"
        target = self.bin_dir / "ctx"
        if target.exists() and target.read_text() == content:
            return
        temporary = self.bin_dir / f".ctx.{os.getpid()}.{threading.get_ident()}"
        temporary.write_text(content)
        temporary.chmod(0o755)
        os.replace(temporary, target)

    def kill(self, operation_id: str) -> bool:
        with self._lock:
            process = self._running.get(operation_id)
            if process is None:
                return False
            self._killed.add(operation_id)
        _kill_group(process)
        return True

    def run(
        self,
        context: Mapping[str, Any],
        callbacks: Callbacks,
        timeout: float | None = None,
        python: str | None = None,
    ) -> Outcome:
        """Run a script operation to its outcome; never raises for the script's faults."""
        operation_id = str(context.get("operation_id"))
        backend = CallbackBackend(context, callbacks)
        op_dir = self.sandbox.private_dir(self.work_dir, "op-")
        socket_path = op_dir / "ctx.sock"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            # A unix socket path is limited to ~107 bytes: fall back to a short private dir.
            socket_path = self.sandbox.private_dir(Path("/tmp"), "qd-") / "ctx.sock"
        server: CtxServer | None = None
        try:
            server = CtxServer(str(socket_path), context, backend)
            # Mode 0600 and owned by the operation user: only it (and root) may connect.
            self.sandbox.give(socket_path)
            try:
                command, env, cwd = self._prepare(context, server, op_dir, python)
                env["QD_CTX_SOCKET"] = str(socket_path)
            except (NonRecoverableError, OSError) as exc:
                return backend.with_checkpoints(
                    failed("nonrecoverable", str(exc), type(exc).__name__)
                )
            limit = timeout if timeout is not None else context.get("timeout")
            outcome = self._execute(operation_id, command, env, cwd, server, limit, context)
            # Writes made through `ctx` are kept whatever the outcome, as in Cloudify.
            outcome["runtime_properties"] = changed_runtime_properties(server.context)
            return backend.with_checkpoints(outcome)
        finally:
            if server is not None:
                server.stop()
                server.context.close()
            shutil.rmtree(op_dir, ignore_errors=True)
            if socket_path.parent != op_dir:
                shutil.rmtree(socket_path.parent, ignore_errors=True)

    def _prepare(
        self, context: Mapping[str, Any], server: CtxServer, op_dir: Path, python: str | None
    ) -> tuple[list[str], dict[str, str], str]:
        inputs = dict(context.get("inputs") or {})
        process = dict(inputs.get("process") or {})
        script = self._fetch_script(context, inputs, server, op_dir)
        # An allow-listed environment (never the worker's settings), HOME its own directory.
        env = self.sandbox.environment(op_dir)
        env.update({k: env_value(v) for k, v in inputs.items() if k not in RESERVED_INPUTS})
        env.update(self.rest_env)
        env.update({str(k): env_value(v) for k, v in (process.get("env") or {}).items()})
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", os.defpath)])
        args = [str(a) for a in process.get("args") or []]
        eval_python = process.get("eval_python")
        if eval_python or (eval_python is None and script.suffix == ".py"):
            interpreter = python or self.python
            path = [str(self.sdk_dir)]
            if interpreter == self.python:
                # The `cloudify` compatibility package; the worker's cloudify-common (there
                # for `cloudify_rest_client`) stays reachable behind it.
                path.append(str(COMPAT_DIR))
            if env.get("PYTHONPATH"):
                path.append(env["PYTHONPATH"])
            env["PYTHONPATH"] = os.pathsep.join(path)
            command = [interpreter, "-m", "quarterdeck.scripthost", str(script), *args]
        elif process.get("command_prefix"):
            command = [*shlex.split(str(process["command_prefix"])), str(script), *args]
        else:
            script.chmod(0o755)
            with open(script, "rb") as handle:
                has_shebang = handle.read(2) == b"#!"
            command = [str(script), *args] if has_shebang else ["/bin/sh", str(script), *args]
        return command, env, str(process.get("cwd") or op_dir)

    def _fetch_script(
        self, context: Mapping[str, Any], inputs: dict[str, Any], server: CtxServer, op_dir: Path
    ) -> Path:
        """A private copy of the script (it is chmod-ed, and the blueprint stays untouched)."""
        if inputs.get("script_source"):
            source = str(inputs["script_source"])
            name = "script.py" if _looks_like_python(source) else "script.sh"
            target = op_dir / name
            target.write_text(source)
            return target
        path = str(inputs.get("script_path") or context.get("implementation") or "")
        if not path:
            raise NonRecoverableError("No script to run: script_path and script_source are empty")
        if "://" in path:
            raise NonRecoverableError(f"script {path!r}: URL scripts are not supported")
        target = op_dir / (Path(path).name or "script")
        try:
            target.write_bytes(server.backend.get_resource(path))
        except (LookupError, FileNotFoundError, PermissionError) as exc:
            raise NonRecoverableError(f"script {path!r} not found: {exc}") from exc
        return target

    def _execute(
        self,
        operation_id: str,
        command: list[str],
        env: dict[str, str],
        cwd: str,
        server: CtxServer,
        limit: float | None,
        context: Mapping[str, Any],
    ) -> Outcome:
        logger = server.context.logger
        try:
            process = _start(command, env, cwd, self.sandbox)
        except OSError as exc:
            return failed("nonrecoverable", f"cannot start {command[0]}: {exc}", "OSError")
        with self._lock:
            self._running[operation_id] = process
        tails: dict[str, deque[str]] = {
            prefix: deque(maxlen=TAIL_LINES) for prefix in ("<out>", "<err>")
        }
        readers = [
            threading.Thread(
                target=_pump, args=(stream, prefix, tails[prefix], logger), daemon=True
            )
            for stream, prefix in ((process.stdout, "<out>"), (process.stderr, "<err>"))
        ]
        for reader in readers:
            reader.start()
        timed_out = False
        try:
            code = process.wait(timeout=float(limit) if limit else None)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
            code = process.wait()
        finally:
            with self._lock:
                self._running.pop(operation_id, None)
                cancelled = operation_id in self._killed
                self._killed.discard(operation_id)
        for reader in readers:
            reader.join(timeout=5)
        if cancelled:
            return failed(
                "nonrecoverable",
                "operation killed (force-cancel)",
                "OperationKilled",
                cancelled=True,
            )
        if timed_out:
            return timeout_failure(context, float(limit or 0))
        return _script_outcome(server.state, code, command, tails)


def _script_outcome(
    state: ScriptState, code: int, command: list[str], tails: dict[str, deque[str]]
) -> Outcome:
    if state.requests > 1:
        return failed("nonrecoverable", "ctx may only abort or return once", "NonRecoverableError")
    if state.abort is not None:
        return failed("nonrecoverable", state.abort, "NonRecoverableError")
    if state.retry is not None:
        return failed("retry", state.retry[0], "OperationRetry", retry_after=state.retry[1])
    if state.failure is not None:
        return cast(Outcome, dict(state.failure))
    if code != 0:
        stdout, stderr = "\n".join(tails["<out>"]), "\n".join(tails["<err>"])
        message = (
            f"command: {shlex.join(command)}, exit_code: {code}, stdout: {stdout}, stderr: {stderr}"
        )
        return failed("recoverable", message, "ProcessException")
    returned = None if state.returned is _UNSET else state.returned
    return {"status": "succeeded", "result": returned}


def _start(
    command: list[str], env: dict[str, str], cwd: str, sandbox: Sandbox
) -> subprocess.Popen[bytes]:
    # ETXTBSY: while another thread forks, the child briefly holds our just-written script
    # open for writing (until its exec), and exec of a file open for writing fails.
    for attempt in range(50):
        try:
            return subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
                **sandbox.popen_options(),
            )
        except OSError as exc:
            if exc.errno != errno.ETXTBSY or attempt == 49:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")


def _pump(stream: IO[bytes], prefix: str, tail: deque[str], logger: logging.Logger) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        tail.append(line)
        # What a script writes to stderr is usually why it failed: a warning, so that it
        # stands out in the execution's events.
        logger.log(logging.WARNING if prefix == "<err>" else logging.INFO, "%s %s", prefix, line)
    stream.close()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _looks_like_python(source: str) -> bool:
    try:
        compile(source, "<script>", "exec")
    except SyntaxError:
        return False
    return True


def is_script_operation(context: Mapping[str, Any]) -> bool:
    return context.get("task_name") == SCRIPT_TASK
