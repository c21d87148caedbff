"""`get_secret` resolves for the caller under the rules of `GET /secrets/<key>`, in every path.

Tenant A holds a private secret and a hidden one of an ordinary user (the owner), and a global
hidden secret of the system administrator; each is read by one global deployment of tenant A
through its outputs, capabilities, a node property and an operation input. Callers of tenant A
and of tenant B then read them through `POST /evaluate/functions`, outputs, capabilities,
evaluated node properties, and (standing in for a worker) the claim of an operation and
`ctx.get_secret`, where the reader is the execution's creator.

Who may read (as Cloudify): a private secret only its creator and system administrators see;
a hidden value only its creator, a manager of its own tenant and system administrators read.
A secret the reader cannot see is missing; a hidden one it may not read is a 403 naming it.
Either way the value appears nowhere in the answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from manager.db import Operation
from manager.db.engine import Database
from manager.settings import Settings
from tests.api.callers import (
    API,
    Caller,
    execution_caller,
    narrow_global_rows,
    new_tenant,
    new_user,
    start_execution_row,
    unique,
    upload_yaml,
)
from wire import WIRE_HEADER, WIRE_VERSION

CREATE = "cloudify.interfaces.lifecycle.create"
# (the reading role, the secret) -> what it gets: the value, "missing" or "forbidden".
OWNER, PEER, MANAGER_A, ADMIN = "owner", "peer", "manager_a", "admin"
USER_B, MANAGER_B = "user_b", "manager_b"
READERS = (OWNER, PEER, MANAGER_A, ADMIN, USER_B, MANAGER_B)
PLAIN, PRIVATE, HIDDEN = "plain", "private", "hidden"
GLOBAL_HIDDEN = "global_hidden"
SECRETS = (PLAIN, PRIVATE, HIDDEN, GLOBAL_HIDDEN)
READ, MISSING, FORBIDDEN = "read", "missing", "forbidden"
EXPECTED = {
    PLAIN: {
        OWNER: READ,
        ADMIN: READ,
        MANAGER_A: READ,
        PEER: READ,
        USER_B: MISSING,
        MANAGER_B: MISSING,
    },
    PRIVATE: {
        OWNER: READ,
        ADMIN: READ,
        MANAGER_A: MISSING,
        PEER: MISSING,
        USER_B: MISSING,
        MANAGER_B: MISSING,
    },
    HIDDEN: {
        OWNER: READ,
        ADMIN: READ,
        MANAGER_A: READ,
        PEER: FORBIDDEN,
        USER_B: MISSING,
        MANAGER_B: MISSING,
    },
    GLOBAL_HIDDEN: {
        ADMIN: READ,
        MANAGER_A: READ,
        OWNER: FORBIDDEN,
        PEER: FORBIDDEN,
        USER_B: FORBIDDEN,
        MANAGER_B: FORBIDDEN,
    },
}
CASES = [(secret, reader) for secret in SECRETS for reader in READERS]
# Who can start an execution on tenant A's deployments (tenant B's users may not: 403).
STARTERS = (OWNER, PEER, ADMIN)


def _blueprint(key: str) -> str:
    reference = f"{{get_secret: {key}}}"
    return f"""
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
plugins:
  probe:
    executor: central_deployment_agent
    install: false
node_types:
  guarded:
    derived_from: cloudify.nodes.Root
    properties:
      credential:
        default: ""
node_templates:
  vm:
    type: guarded
    properties:
      credential: {reference}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: probe.tasks.create
          inputs:
            credential: {reference}
outputs:
  credential:
    value: {reference}
capabilities:
  credential:
    value: {reference}
"""


@dataclass
class World:
    tenant: str
    callers: dict[str, Caller]
    keys: dict[str, str]
    values: dict[str, str]
    deployments: dict[str, str]
    worker: TestClient
    worker_headers: dict[str, str]


@pytest.fixture(scope="module")
def world(
    client: TestClient,
    database: Database,
    settings: Settings,
    admin_credentials: tuple[str, str],
) -> Iterator[World]:
    tenant_a, tenant_b = new_tenant(database), new_tenant(database)
    callers = {
        OWNER: new_user(client, database, tenant_a, "user"),
        PEER: new_user(client, database, tenant_a, "user"),
        MANAGER_A: new_user(client, database, tenant_a, "manager"),
        ADMIN: Caller(client, tenant_a, admin_credentials),
        USER_B: new_user(client, database, tenant_b, "user"),
        MANAGER_B: new_user(client, database, tenant_b, "manager"),
    }
    keys = {secret: unique(f"sr-{secret.replace('_', '-')}") for secret in SECRETS}
    values = {secret: f"value-of-{secret}-{uuid.uuid4().hex}" for secret in SECRETS}
    made: list[tuple[Caller, str, dict[str, Any]]] = [
        (callers[OWNER], PLAIN, {"visibility": "tenant"}),
        (callers[OWNER], PRIVATE, {"visibility": "private"}),
        (callers[OWNER], HIDDEN, {"visibility": "tenant", "is_hidden_value": True}),
        (callers[ADMIN], GLOBAL_HIDDEN, {"visibility": "global", "is_hidden_value": True}),
    ]
    for caller, secret, body in made:
        created = caller.put(f"/secrets/{keys[secret]}", json={"value": values[secret], **body})
        assert created.status_code == 200, created.text

    admin = callers[ADMIN]
    deployments = {}
    for secret in SECRETS:
        name = unique(f"sr-{secret.replace('_', '-')}")
        upload_yaml(admin, name, _blueprint(keys[secret]))
        created = admin.put(f"/deployments/{name}", json={"blueprint_id": name})
        assert created.status_code == 201, created.text
        for kind in ("blueprints", "deployments"):
            shared = admin.patch(f"/{kind}/{name}/set-visibility", json={"visibility": "global"})
            assert shared.status_code == 200, shared.text
        deployments[secret] = name
    headers = {
        "Authorization": f"Bearer {settings.resolved_worker_token}",
        WIRE_HEADER: str(WIRE_VERSION),
    }
    yield World(tenant_a, callers, keys, values, deployments, client, headers)
    narrow_global_rows(database, list(deployments.values()), [keys[GLOBAL_HIDDEN]])


def _check_missing_or_forbidden(world: World, secret: str, expected: str, text: str) -> None:
    assert world.values[secret] not in text
    if expected == MISSING:
        assert f"Required secret '{world.keys[secret]}' does not exist" in text, text
    else:
        assert f"the hidden secret `{world.keys[secret]}`" in text, text


def _check_error(world: World, secret: str, expected: str, response: Any) -> None:
    """A refused evaluation: 400 for a missing secret, 403 for a hidden value."""
    assert world.values[secret] not in response.text
    if expected == MISSING:
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "unknown_deployment_secret_error"
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error_code"] == "forbidden_error"
    _check_missing_or_forbidden(world, secret, expected, response.json()["message"])


@pytest.mark.parametrize(("secret", "reader"), CASES)
def test_evaluate_functions(world: World, secret: str, reader: str) -> None:
    expected = EXPECTED[secret][reader]
    response = world.callers[reader].post(
        "/evaluate/functions",
        json={
            "deployment_id": world.deployments[secret],
            "context": {},
            "payload": {"credential": {"get_secret": world.keys[secret]}},
        },
    )
    if expected == READ:
        assert response.status_code == 200, response.text
        assert response.json()["payload"] == {"credential": world.values[secret]}
    else:
        _check_error(world, secret, expected, response)


@pytest.mark.parametrize("section", ["outputs", "capabilities"])
@pytest.mark.parametrize(("secret", "reader"), CASES)
def test_outputs_and_capabilities(world: World, secret: str, reader: str, section: str) -> None:
    """A failing output is shown as its error (as any failing function there), never the value."""
    expected = EXPECTED[secret][reader]
    response = world.callers[reader].get(f"/deployments/{world.deployments[secret]}/{section}")
    assert response.status_code == 200, response.text
    shown = response.json()[section]["credential"]
    if expected == READ:
        assert shown == world.values[secret]
    else:
        assert shown.startswith("<ERROR: "), shown
        _check_missing_or_forbidden(world, secret, expected, response.text)


@pytest.mark.parametrize(("secret", "reader"), CASES)
def test_evaluated_node_properties(world: World, secret: str, reader: str) -> None:
    """`GET /nodes?_evaluate_functions=true`: how cloudify-common's `ctx.node` reads them."""
    expected = EXPECTED[secret][reader]
    response = world.callers[reader].get(
        "/nodes",
        params={"deployment_id": world.deployments[secret], "_evaluate_functions": "true"},
    )
    if expected == READ:
        assert response.status_code == 200, response.text
        [node] = response.json()["items"]
        assert node["properties"]["credential"] == world.values[secret]
    else:
        _check_error(world, secret, expected, response)
    unevaluated = world.callers[reader].get(
        "/nodes", params={"deployment_id": world.deployments[secret]}
    )
    assert world.values[secret] not in unevaluated.text


def _claim_create(world: World, database: Database, starter: str, secret: str) -> Any:
    """Start an install as `starter` and claim its create operation as a worker would."""
    started = world.callers[starter].post(
        "/executions",
        json={"deployment_id": world.deployments[secret], "workflow_id": "install", "force": True},
    )
    assert started.status_code == 201, started.text
    with database.transaction() as session:
        operation_id = session.scalar(
            select(Operation.id).where(
                Operation.execution_id == started.json()["id"], Operation.name == CREATE
            )
        )
    assert operation_id is not None
    answer = world.worker.post(
        f"{API}/worker/operations/claim",
        json={"items": [[operation_id, 1]], "worker": "secret-test"},
        headers=world.worker_headers,
        auth=None,  # type: ignore[arg-type]  # (not the session client's Basic credentials)
    )
    assert answer.status_code == 200, answer.text
    return operation_id, answer.json()


@pytest.mark.parametrize("starter", STARTERS)
@pytest.mark.parametrize("secret", SECRETS)
def test_operation_inputs_resolve_for_the_executions_creator(
    world: World, database: Database, secret: str, starter: str
) -> None:
    """The claim evaluates the inputs as the creator; a secret they may not read fails the
    operation for good with a message naming it."""
    expected = EXPECTED[secret][starter]
    operation_id, claimed = _claim_create(world, database, starter, secret)
    assert world.values[secret] not in json.dumps(claimed) or expected == READ
    if expected == READ:
        (context,) = claimed["operations"]
        assert context["inputs"]["credential"] == world.values[secret]
        return
    # Refused: the operation failed for good, and the answer says why.
    assert claimed["operations"] == [] and operation_id in claimed["refused"], claimed
    with database.transaction() as session:
        operation = session.get(Operation, operation_id)
        assert operation is not None
        assert operation.state == "failed"
        error = operation.error or {}
    assert "FunctionEvaluationError" in str(error)
    _check_missing_or_forbidden(world, secret, expected, str(error))


@pytest.mark.parametrize("starter", STARTERS)
def test_ctx_get_secret_resolves_for_the_executions_creator(
    world: World, database: Database, starter: str
) -> None:
    """`ctx.get_secret` of a running operation (the worker's secret route)."""
    operation_id, claimed = _claim_create(world, database, starter, PLAIN)
    assert [context["operation_id"] for context in claimed["operations"]] == [operation_id], claimed
    for secret in SECRETS:
        expected = EXPECTED[secret][starter]
        response = world.worker.get(
            f"{API}/worker/operations/{operation_id}/secrets/{world.keys[secret]}",
            headers=world.worker_headers,
            auth=None,  # type: ignore[arg-type]  # (not the session client's Basic credentials)
        )
        assert world.values[secret] not in response.text or expected == READ
        if expected == READ:
            assert response.status_code == 200, response.text
            assert response.json()["value"] == world.values[secret]
        elif expected == MISSING:
            assert response.status_code == 404, response.text
        else:
            assert response.status_code == 403, response.text
            assert world.keys[secret] in response.json()["message"]


@pytest.mark.parametrize("reader", [USER_B, MANAGER_B])
def test_other_tenants_cannot_run_the_global_deployment(world: World, reader: str) -> None:
    started = world.callers[reader].post(
        "/executions",
        json={"deployment_id": world.deployments[PRIVATE], "workflow_id": "install"},
    )
    assert started.status_code == 403, started.text
    assert world.deployments[PRIVATE] in started.json()["message"]


@pytest.mark.parametrize("starter", STARTERS)
@pytest.mark.parametrize("secret", SECRETS)
def test_an_execution_token_reads_as_its_creator(
    world: World, client: TestClient, database: Database, secret: str, starter: str
) -> None:
    """What operation code evaluates itself (`POST /evaluate/functions` with its token)."""
    expected = EXPECTED[secret][starter]
    username = world.callers[starter].auth[0]  # type: ignore[index]
    _, token = start_execution_row(database, world.tenant, world.deployments[secret], username)
    response = execution_caller(client, token).post(
        "/evaluate/functions",
        json={
            "deployment_id": world.deployments[secret],
            "payload": {"credential": {"get_secret": world.keys[secret]}},
        },
    )
    if expected == READ:
        assert response.status_code == 200, response.text
        assert response.json()["payload"] == {"credential": world.values[secret]}
    else:
        _check_error(world, secret, expected, response)
