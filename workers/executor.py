"""Running one claimed operation inside a worker: choose how, heartbeat, ship logs, report.

One `OperationExecutor` lives in each worker (pool) process and keeps the warm runners,
the script executor and the venv manager for every operation that process runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workers.client import ApiError, Stale, WorkerClient
from workers.cloudify_compat import CloudifyDispatcher, holds_cloudify_common
from workers.runners import RunnerPool, failed, worker_python
from workers.scripts import ScriptExecutor, is_script_operation
from workers.venvs import PluginInstallError, VenvManager, is_url, venv_python

log = logging.getLogger(__name__)

LOG_FLUSH_SECONDS = 0.5
# How long one task keeps running the operations the API hands back with results; then the
# next ones go through Redis, so a warm shutdown or another queue never waits long.
HAND_OFF_SECONDS = 10.0


class _Callbacks:
    """The ctx calls of one operation, answered through the API; logs batched."""

    def __init__(self, client: WorkerClient, context: Mapping[str, Any]) -> None:
        self.client = client
        self.operation_id = str(context["operation_id"])
        self.attempt = int(context["attempt"])
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []

    def get_secret(self, key: str) -> Any:
        return self.client.secret(self.operation_id, key)

    def get_resource(self, path: str) -> bytes:
        return self.client.resource(self.operation_id, path)

    def on_log(self, record: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending.append(dict(record))

    def on_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append({**event, "event_type": event.get("event_type") or "plugin_event"})

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            items, self._pending = self._pending, []
        return items

    def flush(self) -> None:
        items = self.take()
        if items:
            try:
                self.client.logs(self.operation_id, self.attempt, items)
            except (ApiError, Stale) as exc:
                log.warning("sending logs of %s failed: %s", self.operation_id, exc)


class OperationExecutor:
    def __init__(
        self,
        client: WorkerClient,
        work_dir: Path,
        *,
        lease_seconds: float = 30.0,
        api_url: str | None = None,
    ) -> None:
        self.client = client
        self.work_dir = work_dir
        self.heartbeat_seconds = max(min(lease_seconds / 3, 5.0), 0.2)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.runners = RunnerPool(sdk_root=work_dir / "sdk")
        self.scripts = ScriptExecutor(work_dir / "scripts")
        self.venvs = VenvManager(work_dir / "venvs")
        # Uploaded plugins, downloaded once per plugin id: <dir>/<plugin id>/<archive name>.
        self.plugin_archives = work_dir / "plugin-archives"
        self.cloudify = CloudifyDispatcher(
            work_dir / "cloudify", api_url or str(client.http.base_url), self.name
        )

    def close(self) -> None:
        self.runners.close()

    def run(self, operation_id: str, attempt: int) -> str:
        """Claim, run and report one attempt, then each operation the API hands back with the
        result (one its result made ready on the same queue); returns what happened."""
        try:
            context: dict[str, Any] | None = self.client.claim(operation_id, attempt, self.name)
        except Stale as exc:
            return f"dropped: {exc}"
        done = []
        until = time.monotonic() + HAND_OFF_SECONDS
        while context is not None:
            status, context = self._run_claimed(context, take_next=time.monotonic() < until)
            done.append(status)
        return ", ".join(done)

    def _run_claimed(
        self, context: dict[str, Any], *, take_next: bool
    ) -> tuple[str, dict[str, Any] | None]:
        operation_id, attempt = str(context["operation_id"]), int(context["attempt"])
        callbacks = _Callbacks(self.client, context)
        stop = threading.Event()
        killed = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat,
            args=(operation_id, attempt, stop, killed, callbacks),
            name=f"heartbeat-{operation_id[:8]}",
            daemon=True,
        )
        beat.start()
        try:
            outcome = self._execute(context, callbacks)
        finally:
            stop.set()
            beat.join()
        if killed.is_set():
            outcome["cancelled"] = True
        outcome["logs"] = callbacks.take()
        try:
            following = self.client.result(
                operation_id, attempt, outcome, worker=self.name if take_next else ""
            )
        except Stale as exc:
            return f"{operation_id}: result ignored: {exc}", None
        return f"{operation_id}: {outcome.get('status')}", following

    def _heartbeat(
        self,
        operation_id: str,
        attempt: int,
        stop: threading.Event,
        killed: threading.Event,
        callbacks: _Callbacks,
    ) -> None:
        last_beat = time.monotonic()
        while not stop.wait(LOG_FLUSH_SECONDS):
            callbacks.flush()
            if time.monotonic() - last_beat < self.heartbeat_seconds:
                continue
            last_beat = time.monotonic()
            try:
                cancel = self.client.heartbeat(operation_id, attempt)
            except (ApiError, Stale) as exc:
                log.warning("heartbeat of %s failed: %s", operation_id, exc)
                continue
            if cancel and not killed.is_set():
                log.info("operation %s cancelled by the API: killing it", operation_id)
                killed.set()
                self.runners.kill(operation_id)
                self.scripts.kill(operation_id)
                self.cloudify.kill(operation_id)

    def _execute(self, context: dict[str, Any], callbacks: _Callbacks) -> dict[str, Any]:
        try:
            python = self._python_for(context)
            if python is not None and holds_cloudify_common(python):
                # Unmodified Cloudify plugins (and cloudify-common's own script runner
                # when a plugin maps it) run through Cloudify's dispatch protocol.
                return self.cloudify.run(python, context)
            if is_script_operation(context):
                return self.scripts.run(context, callbacks)  # type: ignore[arg-type]
            return self.runners.run(python or worker_python(), context, callbacks)  # type: ignore[arg-type]
        except PluginInstallError as exc:
            return failed(
                "nonrecoverable", f"Installing the plugin failed: {exc}", "PluginInstallError"
            )
        except Exception as exc:  # a bug here must still produce a report
            log.exception("operation %s crashed in the worker", context.get("operation_id"))
            return failed("recoverable", f"worker error: {exc}", type(exc).__name__)

    def _python_for(self, context: Mapping[str, Any]) -> str | None:
        """The plugin venv's interpreter, built if needed; None for the worker's own."""
        plugin = context.get("plugin") or {}
        source = plugin.get("source")
        tenant = str(context.get("tenant"))
        if plugin.get("id"):
            return self._uploaded_plugin(context, plugin)
        if not plugin.get("install", True) or not (source or plugin.get("package_name")):
            return None
        if not source:
            raise PluginInstallError(
                f"plugin {plugin.get('name')!r} (package {plugin.get('package_name')} "
                f"{plugin.get('package_version') or 'any version'}) is not uploaded to tenant "
                f"{tenant}, and has no source to install from"
            )
        if not is_url(str(source)):
            # Shipped in the blueprint's plugins/ folder: a venv for this deployment.
            blueprint_dir = Path(str(context.get("blueprint_dir") or ""))
            deployment = str(context.get("deployment_id"))
            return str(self.venvs.ensure_source_plugin(tenant, deployment, plugin, blueprint_dir))
        return str(self.venvs.ensure_plugin(tenant, plugin))

    def _uploaded_plugin(self, context: Mapping[str, Any], plugin: Mapping[str, Any]) -> str:
        """The venv of an uploaded plugin: its archive is fetched from the API once, and an
        installation (or its failure, with the installer's text) is recorded on the plugin."""
        tenant = str(context.get("tenant"))
        name = str(plugin.get("package_name") or plugin.get("name"))
        venv = self.venvs.plugin_dir(tenant, name, plugin.get("package_version"))
        if self.venvs.is_ready(venv):
            return str(venv_python(venv))
        operation_id = str(context["operation_id"])
        archive = self._plugin_archive(operation_id, plugin)
        self._report_plugin(operation_id, "installing")
        try:
            python = self.venvs.ensure_plugin(tenant, plugin, archive=archive)
        except PluginInstallError as exc:
            self._report_plugin(operation_id, "error", str(exc))
            raise
        self._report_plugin(operation_id, "installed")
        return str(python)

    def _plugin_archive(self, operation_id: str, plugin: Mapping[str, Any]) -> Path:
        # The names come from the API; only their last component is used as a path.
        archive_name = Path(str(plugin.get("archive_name") or "plugin.wgn")).name
        target = self.plugin_archives / Path(str(plugin["id"])).name / archive_name
        if not target.is_file():
            self.client.plugin_archive(operation_id, target)
        return target

    def _report_plugin(self, operation_id: str, state: str, error: str | None = None) -> None:
        try:
            self.client.plugin_state(operation_id, state, self.name, error)
        except (ApiError, Stale) as exc:
            log.warning("recording plugin state %s for %s failed: %s", state, operation_id, exc)
