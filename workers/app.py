"""The workers' Celery application (the API publishes with its own, `manager.broker`)."""

from __future__ import annotations

from celery import Celery

from wire.queues import CeleryConfig


def create_celery(broker_url: str) -> Celery:
    app = Celery("quarterdeck", broker=broker_url, set_as_current=False, include=["workers.tasks"])
    app.config_from_object(CeleryConfig)
    return app
