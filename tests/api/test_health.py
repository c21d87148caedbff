"""`/healthz` and `/readyz` answer without credentials; `/readyz` fails (503) when the
database or the broker does not answer. Apps of their own, pointed at closed ports."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from manager.main import create_app
from manager.settings import Settings

CLOSED = 9  # nothing listens there


@pytest.fixture
def app_with(tmp_path: Path) -> Iterator[Callable[[str, str], TestClient]]:
    clients: list[TestClient] = []

    def make(database_url: str, broker_url: str) -> TestClient:
        settings = Settings(
            data_dir=tmp_path,
            database_url=database_url,
            broker_url=broker_url,
            secret_key=secrets.token_urlsafe(32),
            admin_password="unused",
        )
        client = TestClient(create_app(settings, run_watchdog=False))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_ready_when_database_and_broker_answer(client: TestClient) -> None:
    assert client.get("/healthz", auth=None).json() == {"status": "OK"}
    ready = client.get("/readyz", auth=None)
    assert ready.status_code == 200
    assert ready.json() == {"status": "OK", "database": True, "broker": True}


def test_not_ready_when_the_database_is_down(
    app_with: Callable[[str, str], TestClient], redis_url: str
) -> None:
    client = app_with(f"postgresql://nobody:x@127.0.0.1:{CLOSED}/none", redis_url)
    assert client.get("/healthz").status_code == 200  # (alive all the same)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "Fail", "database": False, "broker": True}


def test_not_ready_when_the_broker_is_down(
    app_with: Callable[[str, str], TestClient], database_url: str
) -> None:
    client = app_with(database_url, f"redis://127.0.0.1:{CLOSED}/0")
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "Fail", "database": True, "broker": False}


def test_metrics_are_refused_without_their_token(client: TestClient) -> None:
    # (The test app has no QD_METRICS_TOKEN: metrics are off, even for the admin.)
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error_code"] == "metrics_disabled"
    assert "QD_METRICS_TOKEN" in response.json()["message"]
