"""Operations of plugins built on cloudify-common, run through Cloudify's own file-based
dispatch (plugin-dispatch.md §3): `input.json` in a task directory, `<venv python> -u -m
cloudify.dispatch <dir>`, `output.json` back.

The plugin process talks to the API itself with the execution token: it reads nodes and
instances, saves runtime properties (PATCH /node-instances, version-checked), and sends its
logs and events (POST /events). So the outcome reported here carries no runtime properties
and no logs; the process's own stdout and stderr go to the worker's log, as Cloudify's
worker writes them to a local file and not to the manager.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wire.operations import Outcome
from wire.queues import CENTRAL_QUEUE
from workers.isolation import Sandbox, default_sandbox
from workers.runners import failed, timeout_failure
from workers.venvs import MARKER, PluginInstallError, site_packages

log = logging.getLogger(__name__)

CONTEXT_VERSION = "0.3"
# The queue and target Cloudify names central-deployment-agent operations with.
CENTRAL_TARGET = "cloudify.management"
# §3.3: after SIGTERM, 10 polls of 0.5 s before SIGKILL; a cancellation waits 5 s.
TERM_POLLS, TERM_POLL_SECONDS, CANCEL_GRACE_SECONDS = 10, 0.5, 5.0
TAIL_LINES = 30
# §5: the exceptions an error payload names, and how the engine retries them.
_KINDS = {
    "NonRecoverableError": "nonrecoverable",
    "HttpException": "nonrecoverable",
    "StopAgent": "nonrecoverable",
    "WorkflowFailed": "nonrecoverable",
    "OperationRetry": "retry",
    "RecoverableError": "recoverable",
}

_detected: dict[tuple[str, int], bool] = {}
_detected_lock = threading.Lock()


def holds_cloudify_common(python: str | Path) -> bool:
    """Does this plugin venv hold cloudify-common (its `cloudify/dispatch.py`)? Cached per
    venv build (the marker's time), so a rebuilt venv is looked at again."""
    venv = Path(python).parent.parent
    try:
        built = (venv / MARKER).stat().st_mtime_ns
    except OSError:
        built = 0
    key = (str(venv), built)
    with _detected_lock:
        if key in _detected:
            return _detected[key]
    try:
        found = (site_packages(venv) / "cloudify" / "dispatch.py").is_file()
    except PluginInstallError:
        found = False
    with _detected_lock:
        _detected[key] = found
    return found


@dataclass(frozen=True)
class RestEndpoint:
    """Where the plugin process finds the API: REST_HOST, REST_PORT, REST_PROTOCOL."""

    protocol: str
    host: str
    port: int

    @classmethod
    def from_url(cls, api_url: str) -> RestEndpoint:
        parts = urlsplit(api_url)
        protocol = parts.scheme or "http"
        port = parts.port or (443 if protocol == "https" else 80)
        return cls(protocol, parts.hostname or "127.0.0.1", port)

    def environment(self) -> dict[str, str]:
        """Cloudify's variables naming the API, as operations and scripts get them."""
        return {"REST_HOST": self.host, "REST_PORT": str(self.port), "REST_PROTOCOL": self.protocol}


def cloudify_context(context: Mapping[str, Any], rest: RestEndpoint) -> dict[str, Any]:
    """`__cloudify_context` (§2) of a claimed operation. Its inputs were evaluated when it
    was claimed, so `has_intrinsic_functions` is false."""
    operation = dict(context.get("operation") or {})
    side = operation.get("relationship")
    node, instance = context["node"], context["instance"]
    queue = str(context.get("queue") or CENTRAL_QUEUE)
    target = CENTRAL_TARGET if queue == CENTRAL_QUEUE else queue
    plugin = dict(context.get("plugin") or {})
    token = context.get("execution_token")
    op: dict[str, Any] = {
        "name": operation.get("name"),
        "retry_number": operation.get("retry_number") or 0,
        "max_retries": operation.get("max_retries"),
    }
    if side:
        op["relationship"] = side
    result: dict[str, Any] = {
        "__cloudify_context": CONTEXT_VERSION,
        "type": "operation",
        "task_id": context["operation_id"],
        "task_name": context["task_name"],
        "task_queue": target,
        "task_target": target,
        "execution_id": context.get("execution_id"),
        "workflow_id": context.get("workflow_id"),
        "tenant": {"name": context.get("tenant")},
        "timeout": context.get("timeout"),
        "timeout_recoverable": bool(context.get("timeout_recoverable")),
        "node_id": instance["id"],
        "node_name": node["id"],
        "host_id": context.get("host_id"),
        "executor": context.get("executor") or "central_deployment_agent",
        "execution_env": {},
        "plugin": {
            "name": plugin.get("name"),
            "package_name": plugin.get("package_name"),
            "package_version": plugin.get("package_version"),
            "visibility": plugin.get("visibility"),
            "tenant_name": plugin.get("tenant_name") or context.get("tenant"),
            "source": plugin.get("source"),
            "properties": plugin.get("properties") or {},
        },
        "operation": op,
        "has_intrinsic_functions": False,
        "local": False,
        "rest_token": token,
        "execution_token": token,
        "rest_host": [rest.host],
        "rest_port": rest.port,
        "bypass_maintenance": False,
        "workflow_parameters": context.get("workflow_parameters") or {},
        "execution_creator_username": context.get("execution_creator"),
        "blueprint_id": context.get("blueprint_id"),
        "deployment_id": context.get("deployment_id"),
        "deployment_display_name": context.get("deployment_display_name")
        or context.get("deployment_id"),
        # cloudify-common gives it as `ctx.deployment.resource_tags`; plugins iterate it.
        "deployment_resource_tags": context.get("deployment_resource_tags") or {},
        "resume": bool(context.get("resume")),
    }
    if side:
        # `related` is the other side: the target when this operation runs on the source.
        other = context["target"] if side == "source" else context["source"]
        result["related"] = {
            "node_id": other["instance"]["id"],
            "node_name": other["node"]["id"],
            "is_target": side == "source",
        }
    return result


def outcome_from_output(output: Mapping[str, Any]) -> Outcome:
    """Our outcome from `output.json`: a result, or an error payload (§5) mapped to the
    kind the engine retries by. Runtime properties were saved by the plugin itself."""
    payload = output.get("payload")
    if output.get("type") == "result":
        return {"status": "succeeded", "result": payload, "runtime_properties": {}}
    error: Mapping[str, Any] = (
        payload if isinstance(payload, Mapping) else {"message": str(payload)}
    )
    known = str(error.get("known_exception_type") or "RecoverableError")
    args = error.get("known_exception_type_args") or []
    retry_after = args[0] if known in ("RecoverableError", "OperationRetry") and args else None
    causes = (error.get("known_exception_type_kwargs") or {}).get("causes") or []
    return failed(
        _KINDS.get(known, "recoverable"),
        str(error.get("message") or known),
        str(error.get("exception_type") or known),
        traceback=error.get("traceback") or "",
        retry_after=retry_after,
        causes=list(causes),
    )


class _Task:
    """One running dispatch process."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.killed = False
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)


class CloudifyDispatcher:
    """Runs operations through `cloudify.dispatch` in their plugin's venv. Thread-safe."""

    def __init__(
        self, work_dir: Path, api_url: str, name: str = "", sandbox: Sandbox | None = None
    ) -> None:
        self.work_dir = Path(work_dir)
        self.sandbox = sandbox or default_sandbox()
        self.rest = RestEndpoint.from_url(api_url)
        self.name = name
        self.tasks_dir = self.work_dir / "tasks"
        # Plugins keep files here across operations (`ctx.plugin.workdir`).
        self.agent_work_dir = self.work_dir / "agent"
        self._lock = threading.Lock()
        self._running: dict[str, _Task] = {}

    def run(self, python: str, context: Mapping[str, Any]) -> Outcome:
        """Run one operation to its outcome; never raises for the operation's faults."""
        operation_id = str(context["operation_id"])
        # The task directory is the process's HOME and cwd, owned by the operation user.
        task_dir = self.sandbox.private_dir(self.tasks_dir, f"task-{operation_id[:8]}.")
        try:
            (task_dir / "input.json").write_text(
                json.dumps(
                    {
                        "cloudify_context": cloudify_context(context, self.rest),
                        "args": [],
                        "kwargs": dict(context.get("inputs") or {}),
                    }
                )
            )
            return self._dispatch(python, context, task_dir)
        finally:
            shutil.rmtree(task_dir, ignore_errors=True)

    def kill(self, operation_id: str) -> bool:
        """Force-cancel: SIGTERM the operation's process group, SIGKILL 5 s later."""
        with self._lock:
            task = self._running.get(operation_id)
        if task is None:
            return False
        task.killed = True
        _signal(task.process, signal.SIGTERM)
        timer = threading.Timer(CANCEL_GRACE_SECONDS, _signal, (task.process, signal.SIGKILL))
        timer.daemon = True
        timer.start()
        return True

    def _dispatch(self, python: str, context: Mapping[str, Any], task_dir: Path) -> Outcome:
        operation_id = str(context["operation_id"])
        try:
            process = subprocess.Popen(
                [python, "-u", "-m", "cloudify.dispatch", str(task_dir)],
                cwd=task_dir,
                env=self._environment(python, task_dir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a kill reaches whatever the plugin started
                **self.sandbox.popen_options(),
            )
        except OSError as exc:
            return failed("recoverable", f"starting {python} failed: {exc}", type(exc).__name__)
        task = _Task(process)
        with self._lock:
            self._running[operation_id] = task
        assert process.stdout is not None
        reader = threading.Thread(
            target=_pump,
            args=(process.stdout, task.tail, f"[{operation_id[:8]}]"),
            name=f"dispatch-output-{operation_id[:8]}",
            daemon=True,
        )
        reader.start()
        limit = context.get("timeout")
        try:
            code = process.wait(timeout=float(limit) if limit else None)
        except subprocess.TimeoutExpired:
            _stop(process)
            reader.join(timeout=2)
            return timeout_failure(context, float(limit or 0))
        finally:
            with self._lock:
                self._running.pop(operation_id, None)
        reader.join(timeout=2)
        if task.killed:
            return failed(
                "nonrecoverable",
                "operation killed (force-cancel)",
                "OperationKilled",
                cancelled=True,
            )
        output_file = task_dir / "output.json"
        if code != 0 or not output_file.is_file():
            return failed(
                "nonrecoverable",
                f"Unhandled exception occurred in operation dispatch (rc={code})",
                "NonRecoverableError",
                traceback="\n".join(task.tail),
            )
        try:
            output = json.loads(_read_no_follow(output_file))
        except (OSError, ValueError) as exc:
            return failed(
                "nonrecoverable",
                f"unreadable output.json of cloudify.dispatch: {exc}",
                "NonRecoverableError",
            )
        return outcome_from_output(output)

    def _environment(self, python: str, task_dir: Path) -> dict[str, str]:
        """§3.2: the worker's environment plus what cloudify-common reads."""
        # Plugin code authenticates with its execution token only: the worker's own settings
        # (worker token, secret key, database URL) stay out of its reach.
        env = self.sandbox.environment(task_dir)
        # The worker's own modules must not shadow the venv's packages.
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
        venv = Path(python).parent.parent
        env["VIRTUAL_ENV"] = str(venv)
        exec_dir = task_dir / "tmp"
        exec_dir.mkdir(exist_ok=True)
        self.sandbox.give(exec_dir)
        self.agent_work_dir.mkdir(parents=True, exist_ok=True)
        self.sandbox.give(self.agent_work_dir)  # plugins keep their files there
        env.update(
            {
                "CLOUDIFY_DISPATCH": "true",
                "PATH": os.pathsep.join([str(Path(python).parent), env.get("PATH", os.defpath)]),
                "REST_HOST": self.rest.host,
                "REST_PORT": str(self.rest.port),
                "REST_PROTOCOL": self.rest.protocol,
                "MANAGER_FILE_SERVER_SCHEME": self.rest.protocol,
                "LOCAL_REST_CERT_FILE": self._cert_file(),
                "AGENT_WORK_DIR": str(self.agent_work_dir),
                "CFY_EXEC_TEMPDIR": str(exec_dir),
                "TMPDIR": str(exec_dir),
                # DEBUG (Cloudify's default) logs every HTTP request of the plugin.
                "AGENT_LOG_LEVEL": os.environ.get("AGENT_LOG_LEVEL", "INFO"),
            }
        )
        if self.name:
            env.setdefault("MANAGER_NAME", self.name)
        return env

    def _cert_file(self) -> str:
        """LOCAL_REST_CERT_FILE must name an existing file even for plain http (§3.2): the
        worker's own if set, the CA bundle for https, else an empty file."""
        configured = os.environ.get("LOCAL_REST_CERT_FILE")
        if configured and os.path.isfile(configured):
            return configured
        if self.rest.protocol == "https":
            import certifi

            return str(certifi.where())
        empty = self.work_dir / "rest-cert.pem"
        if not empty.is_file():
            self.work_dir.mkdir(parents=True, exist_ok=True)
            empty.touch()
        return str(empty)


def _read_no_follow(path: Path) -> str:
    """The operation user owns the task directory: a symlink planted as output.json must
    not make the worker read a file of its own."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, encoding="utf-8") as handle:
        return handle.read()


def _pump(stream: Any, tail: deque[str], prefix: str) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        tail.append(line)
        log.info("%s %s", prefix, line)
    stream.close()


def _signal(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _stop(process: subprocess.Popen[bytes]) -> None:
    """§3.3 on timeout: SIGTERM, up to 10 polls of 0.5 s, then SIGKILL."""
    _signal(process, signal.SIGTERM)
    for _ in range(TERM_POLLS):
        if process.poll() is not None:
            return
        time.sleep(TERM_POLL_SECONDS)
    _signal(process, signal.SIGKILL)
    process.wait()
