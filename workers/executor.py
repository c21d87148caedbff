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
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from wire.operations import FINE_ANSWERS, AttemptRef, OperationContext, Outcome, ResultItem
from wire.workflows import BODY_TASK, WorkflowRequest
from workers.client import ApiError, Stale, WorkerClient
from workers.cloudify_compat import CloudifyDispatcher, RestEndpoint, holds_cloudify_common
from workers.isolation import Sandbox, default_sandbox
from workers.runners import RunnerPool, failed
from workers.scripts import ScriptExecutor, is_script_operation
from workers.venvs import PluginInstallError, VenvManager, is_url, venv_python

log = logging.getLogger(__name__)

LOG_FLUSH_SECONDS = 0.5
# How long one task keeps running the operations the API hands back with results; then the
# next ones go through Redis, so a warm shutdown or another queue never waits long.
HAND_OFF_SECONDS = 10.0
# The most operations asked for with a report (the API hands over at most 64).
MOST_TAKEN = 64
# A batch still running after this long reports what it has done and gives back the rest.
BATCH_FLUSH_SECONDS = 0.2


class _Batch:
    """Operations claimed together and run one after another in this process; their
    results, the start of the running one if the API has not announced it, and the ones
    not started are taken for a report by the loop or, when the batch is slow, the watcher.
    """

    def __init__(self, contexts: list[OperationContext]) -> None:
        self.size = len(contexts)
        self.done = threading.Event()
        self.slow = False
        self._lock = threading.Lock()
        self._waiting = deque(contexts)
        self._running: OperationContext | None = None
        self._results: list[ResultItem] = []

    def next(self) -> OperationContext | None:
        with self._lock:
            self._running = self._waiting.popleft() if self._waiting else None
            return self._running

    def finish(self, context: OperationContext, outcome: Outcome) -> None:
        with self._lock:
            self._running = None
            self._results.append(
                {
                    "operation_id": context["operation_id"],
                    "attempt": context["attempt"],
                    "execution_id": context["execution_id"],
                    "outcome": outcome,
                }
            )

    def take(
        self,
    ) -> tuple[list[ResultItem], list[AttemptRef], list[AttemptRef]]:
        """(results so far, the running start to announce, the attempts not started)."""
        with self._lock:
            results, self._results = self._results, []
            started = []
            running = self._running
            if running is not None and not running.get("announced", True):
                running["announced"] = True
                started.append((running["operation_id"], running["attempt"]))
            released = [(c["operation_id"], c["attempt"]) for c in self._waiting]
            self._waiting.clear()
            return results, started, released


class _Callbacks:
    """The ctx calls of one operation, answered through the API; logs batched."""

    def __init__(self, client: WorkerClient, context: OperationContext) -> None:
        self.client = client
        self.operation_id = context["operation_id"]
        self.attempt = context["attempt"]
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []

    def get_secret(self, key: str) -> Any:
        return self.client.secret(self.operation_id, key)

    def get_resource(self, path: str) -> bytes:
        return self.client.resource(self.operation_id, path)

    def workflow(self, request: dict[str, Any]) -> Any:
        """A custom workflow body's request (`wire.workflows`), for this attempt."""
        call = cast(WorkflowRequest, {**request, "attempt": self.attempt})
        return self.client.workflow(self.operation_id, call)

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


class _Watched:
    """A running operation as the watcher sees it. `lock` is held while the watcher tends
    it, so that once `_Watcher.unwatch` returns nothing of it is in flight."""

    def __init__(self, operation_id: str, attempt: int, callbacks: _Callbacks, beat: float) -> None:
        self.operation_id = operation_id
        self.attempt = attempt
        self.callbacks = callbacks
        self.lock = threading.Lock()
        now = time.monotonic()
        self.next_tend = now + LOG_FLUSH_SECONDS
        self.next_beat = now + beat
        self.killed = False
        self.gone = False


class _Watcher:
    """One thread per process that tends every operation the process runs (its logs, its
    heartbeats, its kill): an operation costs a registration, not a thread of its own."""

    def __init__(self, tend: Callable[[_Watched], None], heartbeat_seconds: float) -> None:
        self._tend = tend
        self._heartbeat_seconds = heartbeat_seconds
        self._changed = threading.Condition()
        self._watched: set[_Watched] = set()
        self._thread: threading.Thread | None = None

    def watch(self, operation_id: str, attempt: int, callbacks: _Callbacks) -> _Watched:
        watched = _Watched(operation_id, attempt, callbacks, self._heartbeat_seconds)
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="watcher", daemon=True)
                self._thread.start()
            if not self._watched:
                self._changed.notify()  # (it waits without a timeout when it has nothing)
            self._watched.add(watched)
        return watched

    def unwatch(self, watched: _Watched) -> None:
        """Stop tending it, once what is being done for it now (if anything) is done."""
        with self._changed:
            self._watched.discard(watched)
        with watched.lock:
            watched.gone = True

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._watched:
                    self._changed.wait()
                now = time.monotonic()
                due = [w for w in self._watched if w.next_tend <= now]
                if not due:
                    self._changed.wait(min(w.next_tend for w in self._watched) - now)
                    continue
            for watched in due:
                with watched.lock:
                    if watched.gone:
                        continue
                    try:
                        self._tend(watched)
                    except Exception:  # the thread must go on for the others
                        log.exception("tending operation %s failed", watched.operation_id)
                    watched.next_tend = time.monotonic() + LOG_FLUSH_SECONDS


class OperationExecutor:
    def __init__(
        self,
        client: WorkerClient,
        work_dir: Path,
        *,
        lease_seconds: float = 30.0,
        api_url: str | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.client = client
        self.work_dir = work_dir
        self.sandbox = sandbox or default_sandbox()
        self.heartbeat_seconds = max(min(lease_seconds / 3, 5.0), 0.2)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        api = api_url or str(client.http.base_url)
        rest_env = RestEndpoint.from_url(api).environment()
        self.runners = RunnerPool(
            sdk_root=work_dir / "sdk",
            sandbox=self.sandbox,
            home_root=work_dir / "runners",
            rest_env=rest_env,
        )
        self.scripts = ScriptExecutor(work_dir / "scripts", sandbox=self.sandbox, rest_env=rest_env)
        self.venvs = VenvManager(work_dir / "venvs", sandbox=self.sandbox)
        # Uploaded plugins, downloaded once per plugin id: <dir>/<plugin id>/<archive name>.
        self.plugin_archives = work_dir / "plugin-archives"
        self.cloudify = CloudifyDispatcher(work_dir / "cloudify", api, self.name, self.sandbox)
        self.watcher = _Watcher(self._tend, self.heartbeat_seconds)

    def close(self) -> None:
        self.runners.close()

    def run_batch(self, items: list[AttemptRef]) -> str:
        """Claim the attempts of a message in one request, run and report them, then what
        the API hands back with the report (see `_run_claimed`); returns what happened."""
        contexts, refused = self.client.claim_batch(items, self.name)
        dropped = [f"{operation_id}: dropped: {why}" for operation_id, why in refused.items()]
        return ", ".join([*dropped, self._run_claimed(contexts)] if contexts else dropped)

    def _run_detached(self, context: OperationContext) -> None:
        """Run a custom workflow's body in a thread of this process, so that the pool
        process is free for other operations (the body's own among them) while the body
        waits for them: bodies holding every pool process would wait forever. Its lease is
        what keeps it: if this process dies, the API runs the body again elsewhere."""

        def run() -> None:
            if not context.get("announced", True):
                self._report([], [(context["operation_id"], context["attempt"])], [], 0)
            outcome = self._run_one(context)
            result: ResultItem = {
                "operation_id": context["operation_id"],
                "attempt": context["attempt"],
                "execution_id": context["execution_id"],
                "outcome": outcome,
            }
            self._report([result], [], [], 0)

        name = f"workflow-{context['operation_id'][:8]}"
        threading.Thread(target=run, name=name, daemon=True).start()

    def _run_claimed(self, contexts: list[OperationContext]) -> str:
        """Run claimed operations as a batch and report it; the answer hands back operations
        of the same queues (already claimed), which run as the next batch, and so on for up
        to HAND_OFF_SECONDS."""
        done = []
        until = time.monotonic() + HAND_OFF_SECONDS
        while contexts:
            for body in [c for c in contexts if c["task_name"] == BODY_TASK]:
                self._run_detached(body)
                done.append(f"{body['operation_id']}: workflow body started")
            contexts = [c for c in contexts if c["task_name"] != BODY_TASK]
            if not contexts:
                break
            batch = _Batch(contexts)
            self._run_batch(batch)
            # Slow operations are better spread over every worker: after a slow batch, one.
            want = 0 if time.monotonic() > until else 1 if batch.slow else MOST_TAKEN
            results, started, released = batch.take()
            done += [f"{r['operation_id']}: {r['outcome']['status']}" for r in results]
            done += [f"{operation_id}: released" for operation_id, _ in released]
            contexts = self._report(results, started, released, want)
        return ", ".join(done)

    def _run_batch(self, batch: _Batch) -> None:
        """Run a batch's operations one after another. If it takes longer than
        BATCH_FLUSH_SECONDS, what is done so far is reported at once and what has not
        started is given back for other workers (`_watch`)."""
        watcher = None
        if batch.size > 1:
            watcher = threading.Thread(target=self._watch, args=(batch,), daemon=True)
            watcher.start()
        try:
            while (context := batch.next()) is not None:
                outcome = self._run_one(context)
                batch.finish(context, outcome)
                if outcome.get("cancelled"):
                    break  # (force-cancelled: the rest is given back, and held)
        finally:
            batch.done.set()
            if watcher is not None:
                watcher.join()

    def _watch(self, batch: _Batch) -> None:
        if batch.done.wait(BATCH_FLUSH_SECONDS):
            return
        batch.slow = True
        results, started, released = batch.take()
        if results or started or released:
            self._report(results, started, released, 0)

    def _report(
        self,
        results: list[ResultItem],
        started: list[AttemptRef],
        released: list[AttemptRef],
        want: int,
    ) -> list[OperationContext]:
        """Send a batch's report; returns the operations handed back (claimed for us)."""
        try:
            # Retried as often as a heartbeat would be sent: an API that comes back gives
            # every running operation one lease (control.grace_leases), and the result
            # must land within it, or the operation would be counted lost and run again.
            answers, handed = self.client.report(
                results,
                started=started,
                release=released,
                want=want,
                worker=self.name,
                longest_wait=self.heartbeat_seconds,
            )
        except (ApiError, Stale) as exc:
            # The attempts' leases expire and they are retried ("worker lost").
            log.error("reporting %s failed: %s", [r["operation_id"] for r in results], exc)
            return []
        for operation_id, answer in answers.items():
            if answer not in FINE_ANSWERS:
                log.warning("report of %s: %s", operation_id, answer)
        return handed

    def _run_one(self, context: OperationContext) -> Outcome:
        """Run one claimed operation, heartbeating its lease and sending its logs; returns
        its outcome, with the logs not sent yet."""
        callbacks = _Callbacks(self.client, context)
        watched = self.watcher.watch(context["operation_id"], context["attempt"], callbacks)
        try:
            outcome = self._execute(context, callbacks)
        finally:
            self.watcher.unwatch(watched)
        if watched.killed:
            outcome["cancelled"] = True
        outcome["logs"] = callbacks.take()
        return outcome

    def _tend(self, watched: _Watched) -> None:
        """What the watcher does for a running operation every LOG_FLUSH_SECONDS: send its
        logs, heartbeat its lease when due, and kill it when the API says so."""
        watched.callbacks.flush()
        now = time.monotonic()
        if now < watched.next_beat:
            return
        watched.next_beat = now + self.heartbeat_seconds
        operation_id = watched.operation_id
        try:
            cancel = self.client.heartbeat(operation_id, watched.attempt)
        except (ApiError, Stale) as exc:
            log.warning("heartbeat of %s failed: %s", operation_id, exc)
            return
        if cancel and not watched.killed:
            log.info("operation %s cancelled by the API: killing it", operation_id)
            watched.killed = True
            self.runners.kill(operation_id)
            self.scripts.kill(operation_id)
            self.cloudify.kill(operation_id)

    def _execute(self, context: OperationContext, callbacks: _Callbacks) -> Outcome:
        """The attempt's outcome; the runners build theirs from what the operation's process
        printed, in the shape of `wire.operations.Outcome`."""
        return self._run_by_kind(context, callbacks)

    def _run_by_kind(self, context: OperationContext, callbacks: _Callbacks) -> Outcome:
        try:
            python = self._python_for(context)
            if python is not None and holds_cloudify_common(python):
                # Unmodified Cloudify plugins (and cloudify-common's own script runner
                # when a plugin maps it) run through Cloudify's dispatch protocol.
                return self.cloudify.run(python, context)
            if is_script_operation(context):
                return self.scripts.run(context, callbacks)
            return self.runners.run(python or self.sandbox.python, context, callbacks)
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
