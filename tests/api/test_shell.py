"""The API shell: version, status, authentication and the error body on every error."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient

from manager.db.engine import Database
from manager.services.identity import create_user


def test_version_needs_no_credentials(client: TestClient) -> None:
    response = client.get("/api/version", auth=None)
    assert response.status_code == 200
    body = response.json()
    assert body["edition"] == "community"
    assert body["version"]


def test_status_refuses_anonymous_callers(client: TestClient) -> None:
    response = client.get("/api/v3.1/status", auth=None)
    assert response.status_code == 401
    assert response.json() == {
        "message": "No authentication info provided",
        "error_code": "unauthorized_error",
        "server_traceback": None,
    }


def test_status_reports_database_and_broker(admin: TestClient) -> None:
    response = admin.get("/api/v3.1/status")
    assert response.status_code == 200
    body = response.json()
    assert body["services"]["Database"]["status"] == "Active"
    assert body["services"]["Broker"]["status"] == "Active"
    # OK needs a live worker too (none here, unless another test's is still up).
    workers = body["services"]["Workers"]
    assert workers["status"] == ("Active" if body["workers"] else "Failed")
    assert body["status"] == ("OK" if body["workers"] else "Fail")


def test_wrong_password_is_401(client: TestClient, admin_credentials: tuple[str, str]) -> None:
    response = client.get("/api/v3.1/status", auth=(admin_credentials[0], "wrong"))
    assert response.status_code == 401
    assert response.json()["error_code"] == "unauthorized_error"


def test_unknown_user_gets_the_same_401_as_a_wrong_password(client: TestClient) -> None:
    response = client.get("/api/v3.1/status", auth=("nobody", "wrong"))
    assert response.status_code == 401
    assert response.json()["message"] == "User unauthorized: wrong username or password"


def test_malformed_basic_header_is_401(client: TestClient) -> None:
    response = client.get(
        "/api/v3.1/status", auth=None, headers={"Authorization": "Basic !!!notbase64"}
    )
    assert response.status_code == 401
    assert response.json()["error_code"] == "unauthorized_error"


def test_unknown_tenant_is_403_naming_it(admin: TestClient) -> None:
    response = admin.get("/api/v3.1/status", headers={"Tenant": "no_such_tenant"})
    assert response.status_code == 403
    assert response.json() == {
        "message": "Authorization failed: Tried to authenticate with invalid tenant name: "
        "no_such_tenant",
        "error_code": "forbidden_error",
        "server_traceback": None,
    }


def test_user_outside_a_tenant_is_refused(client: TestClient, database: Database) -> None:
    name = f"user-{uuid.uuid4().hex[:8]}"
    with database.transaction() as session:
        create_user(session, name, "pw-123456", tenant_name=f"t-{name}", tenant_role="viewer")
    own = client.get("/api/v3.1/status", auth=(name, "pw-123456"), headers={"Tenant": f"t-{name}"})
    assert own.status_code == 200
    other = client.get("/api/v3.1/status", auth=(name, "pw-123456"))
    assert other.status_code == 403
    assert "not a member of tenant `default_tenant`" in other.json()["message"]


def test_unknown_route_has_the_cloudify_error_body(admin: TestClient) -> None:
    response = admin.get("/api/v3.1/no-such-thing")
    assert response.status_code == 404
    body = response.json()
    assert body["error_code"] == "not_found_error"
    assert "not found" in body["message"]
    assert body["server_traceback"] is None


def test_wrong_method_has_the_cloudify_error_body(admin: TestClient) -> None:
    response = admin.delete("/api/version")
    assert response.status_code == 405
    assert response.json()["error_code"] == "method_not_allowed_error"


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    generated = client.get("/api/version")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = client.get("/api/version", headers={"X-Request-ID": "trace-me-42"})
    assert echoed.headers["x-request-id"] == "trace-me-42"


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v3.1/status" in spec["paths"]


def test_unexpected_error_hides_the_traceback_unless_debug(app: FastAPI, admin: TestClient) -> None:
    def explode() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/api/v3.1/_test_explode", explode)
    try:
        response = admin.get("/api/v3.1/_test_explode")
        assert response.status_code == 500
        assert response.json() == {
            "message": "Internal error: RuntimeError",
            "error_code": "internal_server_error",
            "server_traceback": None,
        }
    finally:
        app.router.routes.pop()


def test_debug_mode_returns_the_traceback(settings, database: Database) -> None:  # type: ignore[no-untyped-def]
    from manager.main import create_app

    debug_app = create_app(settings.model_copy(update={"debug": True}), run_watchdog=False)

    def explode() -> None:
        raise RuntimeError("kaboom")

    debug_app.add_api_route("/boom", explode)
    with TestClient(debug_app, raise_server_exceptions=False) as debug_client:
        body = debug_client.get("/boom").json()
    assert body["error_code"] == "internal_server_error"
    assert "RuntimeError: kaboom" in body["server_traceback"]


def test_cluster_shape_is_all_in_one(admin: TestClient) -> None:
    managers = admin.get("/api/v3.1/managers").json()["items"]
    brokers = admin.get("/api/v3.1/brokers").json()["items"]
    db_nodes = admin.get("/api/v3.1/db-nodes").json()["items"]
    assert len(managers) == len(brokers) == len(db_nodes) == 1
    assert managers[0]["private_ip"] == brokers[0]["host"] == db_nodes[0]["host"]
    assert admin.get("/api/v3.1/maintenance").json()["status"] == "deactivated"
