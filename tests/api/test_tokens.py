"""API tokens (create, use, expire, revoke) and execution tokens (their creator's rights in
the execution's tenant, for the execution's lifetime)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from manager.db import Execution, Operation, Token
from manager.db.engine import Database
from manager.security import sha256_hex
from manager.services.tokens import execution_token_for
from tests.api.callers import (
    Caller,
    create_deployment,
    execution_caller,
    new_tenant,
    new_user,
    start_execution_row,
    token_caller,
    unique,
    upload_yaml,
)


@pytest.fixture()
def operator(client: TestClient, database: Database) -> Caller:
    return new_user(client, database, new_tenant(database), "operations")


def _create(caller: Caller, **body: object) -> dict:  # type: ignore[type-arg]
    response = caller.post("/tokens", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_created_token_authenticates_without_a_password(
    client: TestClient, operator: Caller
) -> None:
    token = _create(operator, description="ci")
    assert token["value"].startswith(f"ctok-{token['id']}-")
    assert token["username"] == operator.auth[0]  # type: ignore[index]
    assert token["role"] == "default"
    assert token["description"] == "ci" and token["expiration_date"] is None
    by_token = token_caller(client, token["value"], operator.tenant)
    assert by_token.get("/status").status_code == 200
    assert by_token.get("/user").json()["username"] == operator.auth[0]  # type: ignore[index]


def test_only_a_hash_of_the_token_is_stored(operator: Caller, database: Database) -> None:
    token = _create(operator)
    secret = token["value"].split("-", 2)[2]
    with database.transaction(write=False) as session:
        row = session.scalar(select(Token).where(Token.id == token["id"]))
        assert row is not None
        assert row.secret_hash == sha256_hex(secret)
        stored = [str(getattr(row, c.key)) for c in Token.__table__.columns]
    assert not any(secret in value for value in stored)


def test_tokens_are_listed_without_values_and_only_to_their_owner(
    client: TestClient, database: Database, operator: Caller, admin_credentials: tuple[str, str]
) -> None:
    token = _create(operator, description="mine")
    listed = operator.get("/tokens").json()
    assert [t["id"] for t in listed["items"]] == [token["id"]]
    assert "value" not in listed["items"][0]
    assert listed["metadata"]["pagination"]["total"] == 1
    assert operator.get(f"/tokens/{token['id']}").json()["description"] == "mine"

    stranger = new_user(client, database, operator.tenant, "manager")
    assert stranger.get(f"/tokens/{token['id']}").status_code == 404
    assert stranger.delete(f"/tokens/{token['id']}").status_code == 404
    assert token["id"] not in stranger.get("/tokens").text

    admin = Caller(client, operator.tenant, admin_credentials)
    assert admin.get(f"/tokens/{token['id']}").json()["username"] == operator.auth[0]  # type: ignore[index]


def test_revoked_token_is_refused_at_once(client: TestClient, operator: Caller) -> None:
    token = _create(operator)
    by_token = token_caller(client, token["value"], operator.tenant)
    assert by_token.get("/status").status_code == 200
    assert operator.delete(f"/tokens/{token['id']}").status_code == 204
    refused = by_token.get("/status")
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "unauthorized_error"
    assert operator.get(f"/tokens/{token['id']}").status_code == 404


def test_a_token_can_revoke_itself(client: TestClient, operator: Caller) -> None:
    token = _create(operator)
    by_token = token_caller(client, token["value"], operator.tenant)
    assert by_token.delete(f"/tokens/{token['id']}").status_code == 204
    assert by_token.get("/tokens").status_code == 401


def test_expired_token_is_refused(client: TestClient, operator: Caller) -> None:
    token = _create(operator, expiration_date="+2h")
    expires = datetime.fromisoformat(token["expiration_date"].replace("Z", "+00:00"))
    assert timedelta(minutes=118) < expires - datetime.now(UTC) <= timedelta(hours=2)
    by_token = token_caller(client, token["value"], operator.tenant)
    assert by_token.get("/status").status_code == 200
    # Through the app's own database, as this process's changes are: the callers it has
    # already checked are forgotten at once (tests/api/test_caller_cache.py).
    database: Database = client.app.state.db  # type: ignore[attr-defined]
    with database.transaction() as session:
        session.execute(
            update(Token)
            .where(Token.id == token["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    refused = by_token.get("/status")
    assert refused.status_code == 401
    assert refused.json() == {
        "message": "The authentication token has expired",
        "error_code": "unauthorized_error",
        "server_traceback": None,
    }


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("2031-02-03 04:05", "2031-02-03T04:05:00.000Z"), ("2031-02-03T04:05:06Z", None)],
)
def test_absolute_expiration_dates(operator: Caller, expression: str, expected: str) -> None:
    token = _create(operator, expiration_date=expression)
    assert token["expiration_date"] == (expected or "2031-02-03T04:05:06.000Z")


@pytest.mark.parametrize("expression", ["yesterday", "+3 parsecs", "2001-01-01 00:00"])
def test_bad_or_past_expiration_is_400(operator: Caller, expression: str) -> None:
    response = operator.post("/tokens", json={"expiration_date": expression})
    assert response.status_code == 400
    assert response.json()["error_code"] == "bad_parameters_error"


def test_last_use_is_recorded(client: TestClient, operator: Caller) -> None:
    token = _create(operator)
    assert operator.get(f"/tokens/{token['id']}").json()["last_used"] is None
    token_caller(client, token["value"], operator.tenant).get("/status")
    assert operator.get(f"/tokens/{token['id']}").json()["last_used"] is not None


@pytest.mark.parametrize(
    "value", ["garbage", "ctok-nosuchid-secret", "ctok--", "Basic abc", "ctok-" + "x" * 300]
)
def test_unknown_or_malformed_tokens_are_401(client: TestClient, value: str) -> None:
    response = token_caller(client, value, None).get("/status")
    assert response.status_code == 401
    assert response.json()["error_code"] == "unauthorized_error"


def test_right_id_wrong_secret_is_401(client: TestClient, operator: Caller) -> None:
    token = _create(operator)
    forged = f"ctok-{token['id']}-{'A' * 43}"
    assert token_caller(client, forged, operator.tenant).get("/status").status_code == 401


def test_token_of_a_deactivated_user_is_401(
    client: TestClient, operator: Caller, admin_credentials: tuple[str, str]
) -> None:
    token = _create(operator)
    admin = Caller(client, operator.tenant, admin_credentials)
    username = operator.auth[0]  # type: ignore[index]
    deactivated = admin.post(f"/users/active/{username}", json={"action": "deactivate"})
    assert deactivated.status_code == 200
    assert token_caller(client, token["value"], operator.tenant).get("/status").status_code == 401


def test_token_still_needs_tenant_membership(client: TestClient, operator: Caller) -> None:
    token = _create(operator)
    elsewhere = token_caller(client, token["value"], "default_tenant")
    assert elsewhere.get("/status").status_code == 403
    # ...but one's own tokens and user are reachable from any existing tenant.
    assert elsewhere.get("/tokens").status_code == 200
    assert token_caller(client, token["value"], "no-such-tenant").get("/tokens").status_code == 403


# -- execution tokens ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plant(client: TestClient, database: Database) -> dict[str, object]:
    """A tenant with two deployments of two blueprints, a manager, and a secret."""
    tenant = new_tenant(database)
    manager = new_user(client, database, tenant, "manager")
    upload_yaml(manager, "bp-one")
    upload_yaml(manager, "bp-two")
    instance_one = create_deployment(manager, "dep-one", "bp-one")
    instance_two = create_deployment(manager, "dep-two", "bp-two")
    assert manager.put("/secrets/db-password", json={"value": "s3cret"}).status_code == 200
    return {
        "tenant": tenant,
        "manager": manager,
        "instance_one": instance_one,
        "instance_two": instance_two,
    }


def _execution(database: Database, plant: dict[str, object], **fields: object) -> tuple[str, str]:
    manager: Caller = plant["manager"]  # type: ignore[assignment]
    return start_execution_row(
        database,
        str(plant["tenant"]),
        "dep-one",
        manager.auth[0],  # type: ignore[index]
        **fields,
    )


def test_execution_token_reaches_its_deployment(
    client: TestClient, database: Database, plant: dict[str, object]
) -> None:
    execution_id, value = _execution(database, plant)
    ctx = execution_caller(client, value)
    assert ctx.get("/deployments/dep-one").json()["id"] == "dep-one"
    assert ctx.get("/blueprints/bp-one").json()["id"] == "bp-one"
    assert ctx.get(f"/executions/{execution_id}").json()["id"] == execution_id
    nodes = ctx.get("/nodes", params={"deployment_id": "dep-one", "_evaluate_functions": "True"})
    assert [n["id"] for n in nodes.json()["items"]] == ["vm"]
    instance = ctx.get(f"/node-instances/{plant['instance_one']}").json()
    patched = ctx.patch(
        f"/node-instances/{plant['instance_one']}",
        json={"version": instance["version"], "runtime_properties": {"ip": "10.0.0.1"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["runtime_properties"] == {"ip": "10.0.0.1"}
    assert ctx.get("/secrets/db-password").json()["value"] == "s3cret"
    assert ctx.get(f"/tenants/{plant['tenant']}").json()["name"] == plant["tenant"]
    assert ctx.get("/provider/context").status_code == 200


def test_execution_token_sees_its_tenant_as_its_creator(
    client: TestClient, database: Database, plant: dict[str, object]
) -> None:
    """Not only its own deployment: operations may read (and, below, change) anything their
    execution's creator may in that tenant, as in Cloudify."""
    _, value = _execution(database, plant)
    ctx = execution_caller(client, value)
    assert ctx.get("/deployments/dep-two").json()["id"] == "dep-two"
    assert ctx.get("/blueprints/bp-two").json()["id"] == "bp-two"
    assert ctx.get(f"/node-instances/{plant['instance_two']}").status_code == 200
    listed = ctx.get("/deployments", params={"_include": "id", "_sort": "id"}).json()
    assert [d["id"] for d in listed["items"]] == ["dep-one", "dep-two"]
    assert ctx.get("/events").status_code == 200


def test_execution_token_acts_with_its_creators_role(
    client: TestClient, database: Database, plant: dict[str, object]
) -> None:
    """What cloudify-aws-plugin does with it: starts an `execute_operation` execution on its
    own (busy) deployment with `force`, and keeps a key pair in secrets."""
    execution_id, value = _execution(database, plant)
    ctx = execution_caller(client, value)
    instance = str(plant["instance_one"])
    started = ctx.post(
        "/executions",
        json={
            "deployment_id": "dep-one",
            "workflow_id": "execute_operation",
            "force": True,
            "parameters": {
                "operation": "cloudify.interfaces.lifecycle.configure",
                "node_instance_ids": [instance],
            },
        },
    )
    assert started.status_code == 201, started.text
    assert started.json()["created_by"] == (plant["manager"]).auth[0]  # type: ignore[attr-defined]
    assert started.json()["id"] != execution_id

    key = unique("key-pair")
    created = ctx.put(f"/secrets/{key}", json={"value": "-----BEGIN KEY-----"})
    assert created.status_code == 200, created.text
    keys = [s["key"] for s in ctx.get("/secrets", params={"_size": 1000}).json()["items"]]
    assert key in keys and "db-password" in keys
    assert ctx.delete(f"/secrets/{key}").status_code == 204
    assert ctx.get(f"/secrets/{key}").status_code == 404


def test_execution_token_is_refused_what_outlives_it_or_leaves_its_tenant(
    client: TestClient, database: Database, plant: dict[str, object]
) -> None:
    _, value = _execution(database, plant)
    ctx = execution_caller(client, value)
    refused = [
        ctx.post("/tokens", json={}),
        ctx.get("/tokens"),
        ctx.get("/tenants"),
        ctx.get("/users"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert all(r.json()["error_code"] == "forbidden_error" for r in refused)
    assert refused[0].json()["message"] == (
        "An execution token is not permitted to perform `token_create`"
    )


def test_execution_token_has_no_more_than_its_creators_role(
    client: TestClient, database: Database, plant: dict[str, object]
) -> None:
    viewer = new_user(client, database, str(plant["tenant"]), "viewer")
    execution_id, value = start_execution_row(
        database,
        str(plant["tenant"]),
        "dep-one",
        viewer.auth[0],  # type: ignore[index]
    )
    ctx = execution_caller(client, value)
    assert ctx.get("/deployments/dep-one").status_code == 200
    patch = ctx.patch(f"/node-instances/{plant['instance_one']}", json={"version": 99})
    assert patch.status_code == 403
    start = ctx.post(
        "/executions",
        json={"deployment_id": "dep-one", "workflow_id": "install", "force": True},
    )
    assert start.status_code == 403
    assert start.json()["message"] == (
        f"User `{viewer.auth[0]}` with role `viewer` is not permitted to perform "  # type: ignore[index]
        f"`execution_start` in tenant `{plant['tenant']}` (through the execution token of "
        f"execution `{execution_id}`)"
    )
    assert ctx.put(f"/secrets/{unique('s')}", json={"value": "x"}).status_code == 403


def test_execution_token_lives_while_its_execution_runs(
    client: TestClient, database: Database, plant: dict[str, object]
) -> None:
    execution_id, value = _execution(database, plant)
    ctx = execution_caller(client, value)
    assert ctx.get("/deployments/dep-one").status_code == 200

    def set_status(status: str) -> None:
        with database.transaction() as session:
            session.execute(
                update(Execution).where(Execution.id == execution_id).values(status=status)
            )

    set_status("started")
    assert ctx.get("/deployments/dep-one").status_code == 200
    set_status("terminated")
    ended = ctx.get("/deployments/dep-one")
    assert ended.status_code == 401 and ended.json()["error_code"] == "unauthorized_error"

    # A cancelled execution keeps its token while an operation still runs (to report back).
    set_status("cancelled")
    assert ctx.get("/deployments/dep-one").status_code == 401
    with database.transaction() as session:
        session.add(
            Operation(
                id=str(uuid.uuid4()),
                execution_id=execution_id,
                type="operation",
                name="cloudify.interfaces.lifecycle.create",
                state="running",
            )
        )
    assert ctx.get("/deployments/dep-one").status_code == 200


def test_execution_token_is_stored_hashed_and_can_be_replaced(
    client: TestClient, database: Database, plant: dict[str, object]
) -> None:
    execution_id, first = _execution(database, plant)
    with database.transaction() as session:
        execution = session.get(Execution, execution_id)
        assert execution is not None
        assert execution.token_hash == sha256_hex(first) != first
        second = execution_token_for(session, execution)
    assert execution_caller(client, first).get("/deployments/dep-one").status_code == 401
    assert execution_caller(client, second).get("/deployments/dep-one").status_code == 200


def test_execution_token_stays_in_its_tenant(
    client: TestClient,
    database: Database,
    plant: dict[str, object],
    admin_credentials: tuple[str, str],
) -> None:
    """Even the token of an execution a system administrator started: the `Tenant` header
    may not name another tenant, and nothing of another tenant is reachable through it."""
    _, value = _execution(database, plant)
    own = execution_caller(client, value, str(plant["tenant"]))
    assert own.get("/deployments/dep-one").status_code == 200
    other = execution_caller(client, value, "default_tenant")
    refused = other.get("/deployments/dep-one")
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        f"Authorization failed: an execution token of tenant `{plant['tenant']}` "
        "cannot act in tenant `default_tenant`"
    )

    elsewhere = new_tenant(database)
    admin = Caller(client, elsewhere, admin_credentials)
    upload_yaml(admin, "bp-elsewhere")
    create_deployment(admin, "dep-elsewhere", "bp-elsewhere")
    _, admin_value = start_execution_row(
        database, str(plant["tenant"]), "dep-one", admin_credentials[0]
    )
    ctx = execution_caller(client, admin_value)
    assert execution_caller(client, admin_value, elsewhere).get("/status").status_code == 403
    assert ctx.get(f"/tenants/{elsewhere}").status_code == 404
    everywhere = ctx.get("/deployments", params={"_all_tenants": "True", "_include": "id"})
    assert "dep-elsewhere" not in {d["id"] for d in everywhere.json()["items"]}
    # A global secret of another tenant is readable, as for any member, but not changeable
    # (a system administrator's own login could change it).
    key = unique("global")
    assert (
        admin.put(f"/secrets/{key}", json={"value": "x", "visibility": "global"}).status_code == 200
    )
    try:
        assert ctx.get(f"/secrets/{key}").status_code == 200
        changed = ctx.patch(f"/secrets/{key}", json={"value": "changed"})
        assert changed.status_code == 403, changed.text
    finally:
        assert admin.delete(f"/secrets/{key}").status_code == 204


def test_unknown_execution_token_is_401(client: TestClient) -> None:
    response = execution_caller(client, unique("nope")).get("/status")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid execution token"
