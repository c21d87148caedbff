"""Celery tasks: thin wrappers that hand an operation attempt to this process's executor."""

from __future__ import annotations

import atexit
import json
import logging
import threading
from pathlib import Path
from typing import Any

from celery import shared_task

from manager.settings import SECRETS_FILE, Settings, load_settings
from workers.client import WorkerClient
from workers.executor import OperationExecutor

log = logging.getLogger(__name__)

_lock = threading.Lock()
_executor: OperationExecutor | None = None


def worker_settings() -> Settings:
    """The worker's settings; in embedded mode the token derives from the data dir's key."""
    settings = load_settings()
    if not settings.worker_token and not settings.secret_key:
        stored = settings.data_dir / SECRETS_FILE
        if stored.is_file():
            settings.secret_key = json.loads(stored.read_text()).get("secret_key", "")
    return settings


def executor() -> OperationExecutor:
    """One executor per process, made after the pool forked (runners are not fork-safe)."""
    global _executor
    with _lock:
        if _executor is None:
            settings = worker_settings()
            client = WorkerClient(settings.api_url, settings.resolved_worker_token)
            work_dir = Path(settings.data_dir).resolve() / "work"
            _executor = OperationExecutor(
                client, work_dir, lease_seconds=settings.lease_seconds, api_url=settings.api_url
            )
            atexit.register(_executor.close)
        return _executor


@shared_task(name="workers.tasks.run_operations", ignore_result=True)
def run_operations(items: list[list[Any]]) -> str:
    """Operation attempts queued together (one or more): claimed, run and reported as a batch."""
    outcome = executor().run_batch([(str(i), int(a)) for i, a in items])
    log.info("operations %s: %s", [i for i, _ in items], outcome)
    return outcome
