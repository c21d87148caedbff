"""Celery tasks: thin wrappers that hand an operation attempt to this process's executor."""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import threading
from pathlib import Path
from typing import Any

from celery import Task, shared_task

from wire.queues import RUN_OPERATIONS
from workers.client import WireVersionMismatch, WorkerClient
from workers.executor import OperationExecutor
from workers.isolation import (
    Sandbox,
    announce,
    check_sandbox,
    operation_sandbox,
    protect_data_dir,
)
from workers.settings import WorkerSettings, load_worker_settings
from workers.venvs import ensure_sdk_dir

log = logging.getLogger(__name__)

_PR_SET_DUMPABLE = 4
_lock = threading.Lock()
_executor: OperationExecutor | None = None


def worker_sandbox(settings: WorkerSettings, *, create: bool = False) -> Sandbox:
    return operation_sandbox(
        settings.operation_user,
        settings.operation_env,
        settings.operation_python,
        create=create,
    )


def prepare_worker(settings: WorkerSettings) -> Sandbox:
    """Start-up of `quarterdeck worker`, before its pool forks: check the token, create the
    operation user if needed, close the data directory to operations, and check that the
    operation user can run them. Raises WorkerSettingsError or OperationUserError."""
    settings.resolved_worker_token  # noqa: B018 - raises naming QD_WORKER_TOKEN when unset
    _not_dumpable()
    sandbox = worker_sandbox(settings, create=True)
    data_dir = settings.data_dir.resolve()
    work_dir = data_dir / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "plugin-archives").mkdir(mode=0o700, exist_ok=True)
    if sandbox.separate_user:
        os.chmod(work_dir, 0o755)  # the venvs and the SDK the operation user runs
    protect_data_dir(data_dir, sandbox)
    check_sandbox(sandbox, ensure_sdk_dir(work_dir / "sdk"), work_dir)
    announce(sandbox)
    return sandbox


def _not_dumpable() -> None:
    """Keep same-user processes (operations, when they share the worker's user) from
    reading this process's memory and /proc/<pid>/environ, where the token is; the pool
    processes forked from it inherit this, the operation processes it execs do not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("could not make the worker undumpable: same-user processes may read it")


def executor() -> OperationExecutor:
    """One executor per process, made after the pool forked (runners are not fork-safe)."""
    global _executor
    with _lock:
        if _executor is None:
            settings = load_worker_settings()
            client = WorkerClient(settings.api_url, settings.resolved_worker_token)
            work_dir = Path(settings.data_dir).resolve() / "work"
            _executor = OperationExecutor(
                client,
                work_dir,
                lease_seconds=settings.lease_seconds,
                api_url=settings.api_url,
                sandbox=worker_sandbox(settings),
            )
            atexit.register(_executor.close)
        return _executor


@shared_task(bind=True, name=RUN_OPERATIONS, ignore_result=True)
def run_operations(task: Task, items: list[list[Any]]) -> str:
    """Operation attempts queued together (one or more): claimed, run and reported as a batch."""
    try:
        outcome = executor().run_batch([(str(i), int(a)) for i, a in items])
    except WireVersionMismatch as exc:
        # Nothing was claimed: the API's watchdog queues the attempts again for the workers
        # of its release, and this one stops taking any.
        log.critical("worker %s stops: %s", task.request.hostname, exc)
        task.app.control.shutdown(destination=[task.request.hostname])
        return f"refused: {exc}"
    log.debug("operations %s: %s", [i for i, _ in items], outcome)
    return outcome
