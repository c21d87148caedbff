"""The Celery application shared by workers (consuming) and the API (publishing)."""

from __future__ import annotations

from celery import Celery

from workers.config import CeleryConfig


def create_celery(broker_url: str) -> Celery:
    app = Celery("quarterdeck", broker=broker_url, set_as_current=False, include=["workers.tasks"])
    app.config_from_object(CeleryConfig)
    return app
