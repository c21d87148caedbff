"""CORS: off unless QD_CORS_ORIGINS names origins; then only those get the headers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from manager.db.engine import Database
from manager.main import create_app
from manager.settings import Settings, load_settings
from tests.api.callers import start_execution_row

ORIGIN = "https://dashboard.example"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization,tenant,last-event-id",
}


@pytest.fixture(scope="module")
def cors_client(settings: Settings, app: object) -> Iterator[TestClient]:
    """A second app on the same database, allowing ORIGIN (the `app` fixture made the admin)."""
    allowed = settings.model_copy(update={"cors_origins": f"{ORIGIN}, https://other.example"})
    with TestClient(create_app(allowed, run_watchdog=False)) as client:
        yield client


def test_off_by_default(admin: TestClient) -> None:
    preflight = admin.options("/api/v3.1/status", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers
    answer = admin.get("/api/v3.1/status", headers={"Origin": ORIGIN})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


def test_allowed_origins_get_the_headers(
    cors_client: TestClient, admin_credentials: tuple[str, str]
) -> None:
    preflight = cors_client.options("/api/v3.1/executions", headers=PREFLIGHT)
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed_headers = preflight.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "tenant", "last-event-id"):
        assert header in allowed_headers
    answer = cors_client.get("/api/v3.1/status", headers={"Origin": ORIGIN}, auth=admin_credentials)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    # Errors carry the header too, so a page can read why it was refused.
    refused = cors_client.get("/api/v3.1/status", headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN


def test_polled_executions_carry_the_headers_too(
    cors_client: TestClient, database: Database, admin_credentials: tuple[str, str]
) -> None:
    """`GET /executions/{id}` of a known caller is answered before the middleware stack
    (manager.api.polling): not when the request is cross-origin."""
    execution_id, _ = start_execution_row(
        database, "default_tenant", None, admin_credentials[0], blueprint_id="cors-bp"
    )
    for _ in range(2):  # the first fills the caller cache the lean path needs
        answer = cors_client.get(
            f"/api/v3.1/executions/{execution_id}",
            headers={"Origin": ORIGIN},
            auth=admin_credentials,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == ORIGIN


def test_other_origins_get_nothing(cors_client: TestClient) -> None:
    preflight = cors_client.options(
        "/api/v3.1/status", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QD_CORS_ORIGINS", "https://a.example,https://b.example")
    assert load_settings().cors_origin_list == ["https://a.example", "https://b.example"]
    monkeypatch.delenv("QD_CORS_ORIGINS")
    assert load_settings().cors_origin_list == []
