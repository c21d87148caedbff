"""Routes declare the model of what they answer, and answer exactly what it describes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from manager.api.openapi import answers_a_file, api_routes
from manager.schemas.blueprints import BlueprintRead
from manager.schemas.common import ListRead
from manager.schemas.deployments import (
    DeploymentCapabilitiesRead,
    DeploymentOutputsRead,
    DeploymentRead,
    NodeInstanceRead,
    NodeRead,
    WorkflowRead,
)
from manager.schemas.events import EventRead
from manager.schemas.executions import ExecutionRead
from manager.schemas.plugins import PluginRead
from manager.schemas.secrets import SecretRead
from manager.schemas.system import (
    BrokerRead,
    ConfigRead,
    MaintenanceRead,
    ManagerRead,
    StatusRead,
    VersionRead,
)
from manager.schemas.tenants import TenantRead
from manager.schemas.tokens import TokenRead
from manager.schemas.users import UserRead
from tests.api.callers import SMALL_BLUEPRINT, unique

UNMODELLED_MODULES: tuple[str, ...] = ()


def test_every_modelled_route_declares_its_response_model(app: FastAPI) -> None:
    # FastAPI keeps included routers nested: api_routes walks them (app.routes alone holds
    # none of the API's routes, which once made this test pass without checking anything).
    routes = list(api_routes(app.routes))
    assert len(routes) > 50
    missing = [
        f"{sorted(route.methods)} {route.path_format}"
        for route in routes
        if route.endpoint.__module__ not in UNMODELLED_MODULES
        and route.status_code != 204
        # Downloads answer a Response of their own (an archive, a YAML file): no model.
        and not answers_a_file(route.endpoint)
        and route.response_model is None
    ]
    assert missing == []


def _conforms(model: type[BaseModel], body: dict[str, Any]) -> None:
    """`body` validates against `model` and has no key the model does not describe."""
    model.model_validate(body)
    names = {field.alias or name for name, field in model.model_fields.items()}
    assert set(body) <= names, set(body) - names


def _conforms_list(model: type[BaseModel], body: dict[str, Any]) -> None:
    ListRead[model].model_validate(body)  # type: ignore[valid-type]
    assert set(body) == {"items", "metadata"}
    for item in body["items"]:
        _conforms(model, item)


def test_responses_validate_against_their_models(admin: TestClient) -> None:
    token = admin.post("/api/v3.1/tokens", json={"description": "response model"})
    assert token.status_code == 200, token.text
    _conforms(TokenRead, token.json())
    assert "value" in token.json()
    key = unique("model-secret")
    secret = admin.put(
        f"/api/v3.1/secrets/{key}", json={"value": "v", "schema": {"type": "string"}}
    )
    assert secret.status_code == 200, secret.text
    _conforms(SecretRead, secret.json())
    assert secret.json()["schema"] == {"type": "string"}
    blueprint_id = unique("model-bp")
    uploaded = admin.put(
        f"/api/v3.1/blueprints/{blueprint_id}",
        headers={"Content-Type": "application/yaml"},
        content=SMALL_BLUEPRINT,
    )
    assert uploaded.status_code == 201, uploaded.text
    _conforms(BlueprintRead, uploaded.json())
    deployment_id = unique("model-dep")
    created = admin.put(
        f"/api/v3.1/deployments/{deployment_id}", json={"blueprint_id": blueprint_id}
    )
    assert created.status_code == 201, created.text
    _conforms(DeploymentRead, created.json())
    instances = admin.get(f"/api/v3.1/node-instances?deployment_id={deployment_id}")
    assert instances.status_code == 200, instances.text
    instance_id = instances.json()["items"][0]["id"]

    # Lists (each with at least one item by now), then single reads.
    lists: list[tuple[str, type[BaseModel]]] = [
        ("GET /api/v3.1/tenants", TenantRead),
        ("GET /api/v3.1/users", UserRead),
        ("GET /api/v3.1/tokens", TokenRead),
        ("GET /api/v3.1/secrets", SecretRead),
        ("GET /api/v3.1/blueprints", BlueprintRead),
        ("GET /api/v3.1/deployments", DeploymentRead),
        ("GET /api/v3.1/executions?_include_system_workflows=true", ExecutionRead),
        ("GET /api/v3.1/events", EventRead),
        ("GET /api/v3.1/nodes", NodeRead),
        ("GET /api/v3.1/node-instances", NodeInstanceRead),
        ("POST /api/v3.1/searches/blueprints", BlueprintRead),
        ("POST /api/v3.1/searches/deployments", DeploymentRead),
        ("POST /api/v3.1/searches/secrets", SecretRead),
        ("POST /api/v3.1/searches/workflows", WorkflowRead),
        ("GET /api/v3.1/managers", ManagerRead),
        ("GET /api/v3.1/brokers", BrokerRead),
        ("GET /api/v3.1/config", ConfigRead),
    ]
    for request, model in lists:
        _conforms_list(model, _answer(admin, request))
    # (Plugins need a wagon: tests/api/test_plugins.py uploads them through the model.)
    _conforms_list(PluginRead, _answer(admin, "GET /api/v3.1/plugins", allow_empty=True))

    reads: list[tuple[str, type[BaseModel]]] = [
        ("/api/version", VersionRead),
        ("/api/v3.1/status", StatusRead),
        ("/api/v3.1/maintenance", MaintenanceRead),
        ("/api/v3.1/config/task_retries", ConfigRead),
        ("/api/v3.1/user", UserRead),
        ("/api/v3.1/user?_get_data=true", UserRead),
        ("/api/v3.1/tenants/default_tenant", TenantRead),
        ("/api/v3.1/tenants/default_tenant?_get_data=true", TenantRead),
        (f"/api/v3.1/tokens/{token.json()['id']}", TokenRead),
        (f"/api/v3.1/secrets/{key}", SecretRead),
        (f"/api/v3.1/blueprints/{blueprint_id}", BlueprintRead),
        (f"/api/v3.1/deployments/{deployment_id}", DeploymentRead),
        (f"/api/v3.1/deployments/{deployment_id}/outputs", DeploymentOutputsRead),
        (f"/api/v3.1/deployments/{deployment_id}/capabilities", DeploymentCapabilitiesRead),
        (f"/api/v3.1/executions/{created.json()['create_execution']}", ExecutionRead),
        (f"/api/v3.1/node-instances/{instance_id}", NodeInstanceRead),
        (f"/api/v3.1/node-instances/{instance_id}?_evaluate_functions=true", NodeInstanceRead),
    ]
    for path, model in reads:
        _conforms(model, _answer(admin, f"GET {path}"))


def _answer(client: TestClient, request: str, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body of `request` ("METHOD path"), which must succeed (a search sends no rules)."""
    method, path = request.split(" ", 1)
    body = {"filter_rules": []} if method == "POST" else None
    response = client.request(method, path, json=body)
    assert response.status_code == 200, (request, response.text)
    answer: dict[str, Any] = response.json()
    if "items" in answer and not allow_empty:
        assert answer["items"], request
    return answer


def test_a_projection_keeps_only_the_included_fields(admin: TestClient) -> None:
    """`_include` items omit the other fields: the models' optional fields stay out, and a
    field included with the value None stays in."""
    response = admin.get("/api/v3.1/tenants?_include=name,rabbitmq_vhost")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items and all(item.keys() == {"name", "rabbitmq_vhost"} for item in items)
    assert all(item["rabbitmq_vhost"] is None for item in items)


def test_models_describe_every_listed_field() -> None:
    """Each field `_include` may name is a field of the model (else it would be dropped)."""
    from manager.schemas import (
        blueprints,
        deployments,
        events,
        executions,
        plugins,
        secrets,
        tenants,
        tokens,
        users,
    )

    for fields, model in (
        (tenants.FIELDS, TenantRead),
        (users.FIELDS, UserRead),
        (tokens.FIELDS, TokenRead),
        (secrets.LIST_FIELDS, SecretRead),
        (blueprints.FIELDS, BlueprintRead),
        (deployments.FIELDS, DeploymentRead),
        (executions.FIELDS, ExecutionRead),
        (plugins.FIELDS, PluginRead),
        (events.FIELDS, EventRead),
        (deployments.NODE_FIELDS, NodeRead),
        (deployments.INSTANCE_FIELDS, NodeInstanceRead),
    ):
        names = {field.alias or name for name, field in model.model_fields.items()}
        assert set(fields) <= names, (model.__name__, set(fields) - names)
