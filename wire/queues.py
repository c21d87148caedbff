"""Celery names and configuration shared by the API (publishing) and workers (consuming).

Plain constants, not a Celery import: the API's broker and the workflows' routing read
them without importing the worker.
"""

from __future__ import annotations

from typing import Any

CENTRAL_QUEUE = "central"
# The one task: operation attempts queued together, as [[operation id, attempt], ...].
RUN_OPERATIONS = "workers.tasks.run_operations"


def agent_queue(host_instance_id: str) -> str:
    """The queue of operations that must run on one host (Cloudify's host_agent executor)."""
    return f"agent.{host_instance_id}"


class CeleryConfig:
    """Reliability first (late acks, one message at a time); routing is by queue name."""

    # A task is acknowledged only after it ran, and re-delivered if its worker died.
    task_acks_late = True
    task_reject_on_worker_lost = True
    worker_prefetch_multiplier = 1
    # Results go to the API over HTTP; Celery's result backend is not used.
    task_ignore_result = True
    task_default_queue = CENTRAL_QUEUE
    task_serializer = "json"
    accept_content = ["json"]
    broker_connection_retry_on_startup = True
    broker_transport_options: dict[str, Any] = {"visibility_timeout": 3600}
    worker_hijack_root_logger = False
    worker_send_task_events = False
    task_send_sent_event = False
    worker_enable_remote_control = True
