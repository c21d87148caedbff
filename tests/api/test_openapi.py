"""The OpenAPI document describes every route (a new route that is left out or left vague
fails here), and the documentation pages work offline."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from manager.api.openapi import ERROR_SCHEMA, SECURITY_SCHEMES, api_routes
from manager.schemas.errors import ErrorBody
from tests.api.test_permissions import EXPECTED
from tests.api.test_permissions import PUBLIC as PUBLIC_ROLES

# Routes deliberately left out of the document, each with the reason.
HIDDEN = {
    # The worker protocol: only Quarterdeck's workers call it, with the worker token, and
    # its contract is wire/ (manager.api.workers).
    "/api/v3.1/worker/operations": "worker protocol",
    "/api/v3.1/worker/hello": "worker protocol (the start-up check of a worker's token)",
    # Prometheus' text format, scraped with its own bearer token (QD_METRICS_TOKEN), not a
    # route for API clients; the README lists its metrics.
    "/metrics": "Prometheus scrape target",
    # The documentation pages themselves.
    "/docs": "documentation page",
    "/redoc": "documentation page",
    "/docs/assets/{name}": "documentation page files",
    # The dashboard's page: HTML for people, holding no data (its files are a static mount).
    "/": "dashboard page",
}
# The operations anyone may call without credentials: those the permission matrix says
# are public (tests/api/test_permissions.py decides who may call what).
PUBLIC = {
    (method.lower(), path)
    for (method, path), expect in EXPECTED.items()
    if expect.roles == PUBLIC_ROLES
}
LIST_PARAMETERS = {"_size", "_offset", "_sort", "_include", "_search", "_all_tenants", "_range"}


def _document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _hidden_by(prefix: str, path: str) -> bool:
    """`path` is `prefix` or under it (`/` names the dashboard's page alone)."""
    return path == prefix or (prefix != "/" and path.startswith(prefix))


def test_every_route_is_in_the_document(app: FastAPI, client: TestClient) -> None:
    document = _document(client)
    missing, hidden = [], []
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            if not any(_hidden_by(prefix, route.path_format) for prefix in HIDDEN):
                hidden.append(route.path_format)
            continue
        for method in route.methods:
            if method.lower() not in document["paths"].get(route.path_format, {}):
                missing.append(f"{method} {route.path_format}")
    assert missing == []
    assert ("get", "/api/version") in PUBLIC
    assert hidden == [], "hidden from the document without a reason in HIDDEN"


def test_every_operation_documents_its_answers(client: TestClient) -> None:
    document = _document(client)
    assert document["components"]["securitySchemes"] == SECURITY_SCHEMES
    problems = []
    for method, path, operation in _operations(document):
        name = f"{method.upper()} {path}"
        responses = operation["responses"]
        successes = {status: r for status, r in responses.items() if status.startswith("2")}
        if not successes:
            problems.append(f"{name}: no success response")
        for status, response in successes.items():
            for media_type, content in response.get("content", {}).items():
                if media_type == "application/json" and not content.get("schema"):
                    problems.append(f"{name}: {status} has no response model")
        if "422" in responses:
            problems.append(f"{name}: documents FastAPI's 422, which the API never answers")
        for status, response in responses.items():
            if status.startswith("4"):
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema != {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}:
                    problems.append(f"{name}: {status} is not the error body")
        public = (method, path) in PUBLIC
        if public != (operation.get("security") == []):
            problems.append(f"{name}: security {operation.get('security')}")
        if not public:
            if not {"401", "403"} <= set(responses):
                problems.append(f"{name}: 401/403 undocumented")
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            if "Tenant" not in headers:
                problems.append(f"{name}: no Tenant header")
        if operation.get("requestBody") and "400" not in responses:
            problems.append(f"{name}: takes a body but documents no 400")
    assert problems == []


def test_lists_document_their_parameters(client: TestClient) -> None:
    document = _document(client)
    lists = []
    for method, path, operation in _operations(document):
        success = operation["responses"].get("200", {})
        schema = success.get("content", {}).get("application/json", {}).get("schema", {})
        if method in ("get", "post") and schema.get("$ref", "").startswith(
            "#/components/schemas/ListRead_"
        ):
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            assert names >= LIST_PARAMETERS, (path, LIST_PARAMETERS - names)
            lists.append(path)
    assert "/api/v3.1/blueprints" in lists and "/api/v3.1/searches/deployments" in lists


def test_the_error_schema_is_what_errors_answer(admin: TestClient) -> None:
    missing = admin.get("/api/v3.1/blueprints/no-such-blueprint")
    assert missing.status_code == 404
    ErrorBody.model_validate(missing.json())
    bad = admin.get("/api/v3.1/blueprints?_sort=no_such_field")
    assert bad.status_code == 400
    assert set(ErrorBody.model_validate(bad.json()).model_dump()) >= {"message", "error_code"}
    invalid = admin.post("/api/v3.1/tokens", json={"expiration_date": {"not": "a date"}})
    assert invalid.status_code == 400, invalid.text
    ErrorBody.model_validate(invalid.json())


def test_the_documentation_pages_load_only_local_files(client: TestClient) -> None:
    """/docs and /redoc work offline: every file they load is served by the API itself."""
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200, response.text
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", response.text)
        urls += re.findall(r"""url:\s*["']([^"']+)["']""", response.text)
        assert urls, page
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), (page, url)
            asset = client.get(url)
            assert asset.status_code == 200, (page, url)
            assert asset.content, (page, url)
        assert "/openapi.json" in response.text
        assert "http://" not in response.text and "https://" not in response.text, page
    assert client.get("/docs/assets/../../etc/passwd").status_code == 404
    assert client.get("/docs/assets/nothing.js").status_code == 404
