"""The OpenAPI document at /openapi.json, completed so that it describes what the API answers,
and the pages that show it (/docs, /redoc) with files served by the API itself.

FastAPI writes the document from the routes. What it cannot know is added here, for every
route at once, so that a route added later gets it without doing anything:

- errors: the API answers 400/401/403/404/409/413/429 with `{message, error_code}`
  (manager.api.errors), never FastAPI's 422. Each operation lists the statuses it can answer,
  from what the route is: authenticated or not, with path parameters or a body, a read or a
  write. A route can add statuses of its own with `responses=` on its decorator.
- security: HTTP Basic, `Authentication-Token` and `Execution-Token` (manager.api.deps), on
  every operation that needs a caller, with the optional `Tenant` header.
- list parameters: `_size`, `_offset`, `_sort`, `_include`, `_search`, `_all_tenants` and
  `_range` on every operation that answers a list (`ListRead`), which reads them itself
  (manager.api.pagination).
- downloads: a route that answers a file (no response model) is not described as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib.resources import files
from typing import Any, get_type_hints

from fastapi import FastAPI, Response, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from manager.api.deps import get_caller
from manager.api.pagination import MAX_SIZE
from manager.errors import NotFound
from manager.schemas.common import ListRead
from manager.schemas.errors import ErrorBody

ERROR_SCHEMA = "ErrorBody"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}

# What each error status means, as the operations' documentation says it.
ERROR_MEANINGS = {
    400: "Bad input: a parameter, header or body that is not valid (the message names it)",
    401: "No credentials, or credentials that are wrong, expired or revoked",
    403: "The caller may not do this: its role, its tenant (`Tenant` header) or the "
    "resource's owner does not allow it",
    404: "Something the path or the body names does not exist, or the caller cannot see it",
    409: "The request conflicts with the current state or with an existing resource",
    413: "The request body is larger than the manager accepts",
    429: "Too many failed password checks for this user name or client address; try again "
    "after `Retry-After` seconds",
}

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "A user name and password of the users table.",
    },
    "token": {
        "type": "apiKey",
        "in": "header",
        "name": "Authentication-Token",
        "description": "An API token, made with `POST /api/v3.1/tokens` or `cfy tokens create`.",
    },
    "executionToken": {
        "type": "apiKey",
        "in": "header",
        "name": "Execution-Token",
        "description": "The token of a running execution, which its operations call back with.",
    },
}
# Any one of the schemes is enough (a list of alternatives).
SECURITY: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]

TENANT_HEADER = {
    "name": "Tenant",
    "in": "header",
    "required": False,
    "description": "The tenant the caller acts in (`default_tenant` when absent; an execution "
    "token's own tenant).",
    "schema": {"type": "string"},
}

LIST_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "_size",
        "in": "query",
        "description": f"Page size (at most {MAX_SIZE}).",
        "schema": {"type": "integer", "minimum": 0},
    },
    {
        "name": "_offset",
        "in": "query",
        "description": "How many items to skip.",
        "schema": {"type": "integer", "minimum": 0},
    },
    {
        "name": "_sort",
        "in": "query",
        "description": "A field to sort by, `-field` for descending; repeat for more keys. "
        "An unknown field is a 400 that lists the known ones.",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    {
        "name": "_include",
        "in": "query",
        "description": "Comma-separated fields each item keeps (the others are left out).",
        "schema": {"type": "string"},
    },
    {
        "name": "_search",
        "in": "query",
        "description": "Keep items whose id contains this text.",
        "schema": {"type": "string"},
    },
    {
        "name": "_all_tenants",
        "in": "query",
        "description": "List every tenant the caller is a member of, not only the `Tenant` "
        "header's.",
        "schema": {"type": "boolean"},
    },
    {
        "name": "_range",
        "in": "query",
        "description": "`field,from,to`: keep items whose field lies in the range (either end "
        "may be empty); repeat for more fields.",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
]
LIST_FILTERS_NOTE = (
    "\n\nOther query parameters filter the list: `field=value` keeps items whose field has "
    "that value (repeat the parameter for any of several values), on the fields `_sort` "
    "accepts; an unknown field is a 400 that lists the known ones."
)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
BODY_METHODS = {"POST", "PUT", "PATCH"}

# The pages' files, from the fastapi-offline package (Swagger UI 5 and ReDoc).
ASSETS = files("fastapi_offline") / "static"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
ASSETS_URL = "/docs/assets"


def complete(document: dict[str, Any], routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """Add errors, security, list parameters and download types to FastAPI's document
    (once: a completed document is left as it is)."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if ERROR_SCHEMA in schemas:
        return document
    schemas[ERROR_SCHEMA] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components["securitySchemes"] = SECURITY_SCHEMES
    for route, method, operation in _operations(document, routes):
        _describe(route, method, operation)
    # FastAPI's validation error shapes are never answered (validation errors are 400s).
    if "HTTPValidationError" not in str(document["paths"]):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return document


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[Any]:
    """Every API route of the application, as it answers: with the prefix and dependencies
    of the routers that include it. (FastAPI keeps included routers nested; each item has
    an APIRoute's attributes: path_format, methods, endpoint, response_model, dependant.)"""
    for context in routing.iter_route_contexts(list(routes)):
        if isinstance(context.original_route, APIRoute):
            yield context


def _operations(
    document: dict[str, Any], routes: Iterable[BaseRoute]
) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        path = document["paths"].get(route.path_format, {})
        for method in sorted(route.methods):
            operation = path.get(method.lower())
            if operation is not None:
                yield route, method, operation


def _describe(route: Any, method: str, operation: dict[str, Any]) -> None:
    authenticated = _needs_caller(route.dependant)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    _describe_downloads(route, responses)
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    has_input = bool(parameters) or "requestBody" in operation
    statuses: set[int] = set()
    if authenticated:
        statuses |= {400, 401, 403, 429}
        operation["security"] = SECURITY
        _add_parameters(parameters, [TENANT_HEADER])
    else:
        operation["security"] = []
    if has_input:
        statuses.add(400)
    # Path parameters and bodies name resources (a deployment, a tenant) that may be missing.
    if route.dependant.path_params or "requestBody" in operation:
        statuses.add(404)
    if method in WRITE_METHODS:
        statuses.add(409)
    if method in BODY_METHODS:
        statuses.add(413)
    if _answers_a_list(route, method):
        _add_parameters(parameters, LIST_PARAMETERS)
        operation["description"] = operation.get("description", "") + LIST_FILTERS_NOTE
        statuses.add(400)
    for status in sorted(statuses):
        responses.setdefault(str(status), _error_response(status))
    # An error status a route declares itself (`responses=`) without a body gets the error body.
    for code, response in responses.items():
        if code.startswith("4") and not response.get("content"):
            response["content"] = {"application/json": {"schema": ERROR_REF}}
    if not parameters:
        operation.pop("parameters")


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERROR_MEANINGS[status],
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds until password checks are accepted again.",
                "schema": {"type": "integer"},
            }
        }
    return response


def _describe_downloads(route: Any, responses: dict[str, Any]) -> None:
    """A route declared to return a Response of its own, without a response model, answers
    a file: FastAPI's empty JSON schema for it is replaced by the media types the route
    declares, else any bytes. (A route that returns data without a model keeps the empty
    schema, which tests/api/test_openapi.py refuses.)"""
    if route.response_model is not None or not answers_a_file(route.endpoint):
        return
    for status, response in responses.items():
        content = response.get("content")
        if not status.startswith("2") or not content:
            continue
        if content.get("application/json", {}).get("schema") in ({}, None):
            content.pop("application/json", None)
        if not content:
            content["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}


def answers_a_file(endpoint: Any) -> bool:
    """Whether the endpoint is declared to return a Response (an archive, a YAML file)."""
    try:
        answer = get_type_hints(endpoint).get("return")
    except (NameError, TypeError):
        return False
    return isinstance(answer, type) and issubclass(answer, Response)


def _add_parameters(parameters: list[dict[str, Any]], extra: list[dict[str, Any]]) -> None:
    present = {(parameter["in"], parameter["name"].lower()) for parameter in parameters}
    for parameter in extra:
        if (parameter["in"], parameter["name"].lower()) not in present:
            parameters.append(parameter)


def _needs_caller(dependant: Dependant) -> bool:
    """Whether the route (or any of its dependencies) authenticates the caller."""
    if dependant.call is get_caller:
        return True
    return any(_needs_caller(sub) for sub in dependant.dependencies)


def _answers_a_list(route: Any, method: str) -> bool:
    model = route.response_model
    return method in ("GET", "POST") and isinstance(model, type) and issubclass(model, ListRead)


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc), loading their files from /docs/assets."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            # No online validator badge: the page must not reach outside the manager.
            swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in ASSET_TYPES:
            raise NotFound(f"No documentation file `{name}`")
        path = ASSETS / name
        return FileResponse(str(path), media_type=ASSET_TYPES[name])
