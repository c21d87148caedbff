"""Workers' claims and reports are answered before FastAPI's stack (manager.api.workers.answer);
whatever that path leaves (a bad token, version or body) reaches the route with its body and
is answered as the route always answers it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from manager.settings import Settings
from wire import WIRE_HEADER, WIRE_VERSION

RESULTS = "/api/v3.1/worker/operations/results"
CLAIM = "/api/v3.1/worker/operations/claim"


@pytest.fixture
def worker(client: TestClient, app: FastAPI) -> TestClient:
    """A client of its own: the session's client may carry the admin's credentials."""
    return TestClient(app, raise_server_exceptions=False)


def _worker(settings: Settings, version: int = WIRE_VERSION) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {settings.resolved_worker_token}",
        WIRE_HEADER: str(version),
    }


def test_a_report_is_answered_with_its_request_id(worker: TestClient, settings: Settings) -> None:
    response = worker.post(
        RESULTS, json={"want": 3}, headers={**_worker(settings), "X-Request-Id": "lean-1"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"answers": {}, "next": []}
    assert response.headers["x-request-id"] == "lean-1"


def test_a_claim_of_an_unknown_operation_is_refused_by_name(
    worker: TestClient, settings: Settings
) -> None:
    response = worker.post(
        CLAIM, json={"items": [["no-such-operation", 1]], "worker": "w"}, headers=_worker(settings)
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["operations"] == []
    assert "no-such-operation" in answer["refused"]


def test_a_bad_token_or_version_is_the_routes_to_refuse(
    worker: TestClient, settings: Settings
) -> None:
    response = worker.post(RESULTS, json={}, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json()["error_code"] == "unauthorized_error"
    response = worker.post(RESULTS, json={}, headers=_worker(settings, WIRE_VERSION + 1))
    assert response.status_code == 400
    assert str(WIRE_VERSION + 1) in response.json()["message"]


def test_a_bad_body_reaches_the_route_whole(worker: TestClient, settings: Settings) -> None:
    """The lean path read the body before it found it wrong: the route gets it again and
    names the culprit."""
    response = worker.post(RESULTS, json={"want": "many"}, headers=_worker(settings))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "bad_parameters_error"
    assert "want" in body["message"]
