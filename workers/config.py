"""Celery names and configuration, defined in `wire.queues` (the API publishes with them)."""

from wire.queues import CENTRAL_QUEUE, RUN_OPERATIONS, CeleryConfig, agent_queue

__all__ = ["CENTRAL_QUEUE", "RUN_OPERATIONS", "CeleryConfig", "agent_queue"]
