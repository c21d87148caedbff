"""Secrets over HTTP as `cfy secrets` uses them: encrypted at rest, hidden values, visibility."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from manager.db.engine import Database
from manager.services.secrets import fernet
from manager.settings import Settings
from tests.api.callers import Caller, new_tenant, new_user, unique


@pytest.fixture()
def tenant(database: Database) -> str:
    return new_tenant(database)


@pytest.fixture()
def author(client: TestClient, database: Database, tenant: str) -> Caller:
    return new_user(client, database, tenant, "user")


@pytest.fixture()
def admin(client: TestClient, tenant: str, admin_credentials: tuple[str, str]) -> Caller:
    return Caller(client, tenant, admin_credentials)


def _create(caller: Caller, key: str, value: str, **body: object) -> dict:  # type: ignore[type-arg]
    payload = {"value": value, "update_if_exists": False, "visibility": "tenant", **body}
    response = caller.put(f"/secrets/{key}", json=payload)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _stored(database: Database, tenant: str, key: str) -> str:
    """The raw column, read with plain SQL: what a database dump would show."""
    with database.transaction(write=False) as session:
        return str(
            session.execute(
                text(
                    "SELECT s.encrypted_value FROM secrets s JOIN tenants t ON t.pk = s.tenant_pk "
                    "WHERE s.key = :key AND t.name = :tenant"
                ),
                {"key": key, "tenant": tenant},
            ).scalar_one()
        )


def test_create_and_get_like_the_cli(author: Caller, tenant: str) -> None:
    body = _create(author, "db-password", "hunter2")
    assert body["key"] == "db-password" and body["value"] == "hunter2"
    assert body["visibility"] == "tenant" and body["tenant_name"] == tenant
    assert body["created_by"] == author.auth[0]  # type: ignore[index]
    assert body["is_hidden_value"] is False
    assert {"created_at", "updated_at", "schema", "provider_name", "provider_options"} <= set(body)
    assert body["created_at"].endswith("Z")
    got = author.get("/secrets/db-password").json()
    assert got["value"] == "hunter2"


def test_value_is_encrypted_at_rest(
    author: Caller, tenant: str, database: Database, settings: Settings
) -> None:
    _create(author, "api-key", "plain-text-value-123")
    stored = _stored(database, tenant, "api-key")
    assert "plain-text-value-123" not in stored
    assert fernet(settings.secret_key).decrypt(stored.encode()) == b"plain-text-value-123"
    author.patch("/secrets/api-key", json={"value": "second-value-456"})
    stored = _stored(database, tenant, "api-key")
    assert "second-value-456" not in stored
    assert fernet(settings.secret_key).decrypt(stored.encode()) == b"second-value-456"


def test_list_never_carries_values(author: Caller) -> None:
    _create(author, "one", "v1")
    _create(author, "two", "v2", is_hidden_value=True)
    listed = author.get("/secrets", params={"_sort": "key"}).json()
    assert [s["key"] for s in listed["items"]] == ["one", "two"]
    assert all("value" not in item for item in listed["items"])
    assert [s["is_hidden_value"] for s in listed["items"]] == [False, True]
    assert listed["metadata"]["pagination"] == {"total": 2, "size": 1000, "offset": 0}
    assert author.get("/secrets", params={"_search": "tw"}).json()["items"][0]["key"] == "two"
    bad = author.get("/secrets", params={"_include": "key,value"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "no_such_include_field_error"


def test_duplicate_is_409_unless_update_if_exists(
    author: Caller, tenant: str, database: Database, settings: Settings
) -> None:
    _create(author, "dup", "first")
    again = author.put("/secrets/dup", json={"value": "second"})
    assert again.status_code == 409
    assert again.json()["error_code"] == "conflict_error"
    updated = _create(author, "dup", "second", update_if_exists="true")
    assert updated["value"] == "second"
    stored = _stored(database, tenant, "dup")
    assert fernet(settings.secret_key).decrypt(stored.encode()) == b"second"


def test_hidden_value_is_shown_to_its_creator_managers_and_admins_only(
    author: Caller, admin: Caller, client: TestClient, database: Database, tenant: str
) -> None:
    """Cloudify's rule (is_hidden_value_permitted): the creator, an administrator of the
    secret's tenant (manager) or a system administrator; anyone else gets a blank value."""
    created = _create(author, "hidden", "do-not-show", is_hidden_value=True)
    assert created["value"] == "do-not-show" and created["is_hidden_value"] is True
    manager = new_user(client, database, tenant, "manager")
    for caller in (author, admin, manager):
        assert caller.get("/secrets/hidden").json()["value"] == "do-not-show"
    for role in ("user", "operations", "viewer"):
        peer = new_user(client, database, tenant, role)
        shown = peer.get("/secrets/hidden")
        assert shown.status_code == 200 and shown.json()["value"] == "", role
        assert "do-not-show" not in shown.text
    assert "do-not-show" not in author.get("/secrets").text


def test_only_creator_managers_and_admins_change_a_hidden_secret(
    author: Caller, client: TestClient, database: Database, tenant: str
) -> None:
    _create(author, "guarded", "v1", is_hidden_value=True)
    peer = new_user(client, database, tenant, "user")
    refused = peer.patch("/secrets/guarded", json={"value": "v2"})
    assert refused.status_code == 403 and refused.json()["error_code"] == "forbidden_error"
    assert peer.delete("/secrets/guarded").status_code == 403
    assert author.patch("/secrets/guarded", json={"value": "v3"}).status_code == 200
    manager = new_user(client, database, tenant, "manager")
    shown = manager.patch("/secrets/guarded", json={"is_hidden_value": False}).json()
    assert shown["value"] == "v3"


def test_secret_values_never_reach_the_logs(
    author: Caller, admin: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    values = ["log-canary-create-7f3a", "log-canary-update-91bc", "log-canary-hidden-55de"]
    with caplog.at_level(logging.DEBUG):
        _create(author, "canary", values[0])
        author.get("/secrets/canary")
        author.put("/secrets/canary", json={"value": values[0]})  # 409
        author.patch("/secrets/canary", json={"value": values[1]})
        author.put("/secrets/canary", json={"value": values[1], "update_if_exists": True})
        _create(author, "canary-hidden", values[2], is_hidden_value=True)
        admin.get("/secrets/canary-hidden")
        author.put("/secrets/bad key", json={"value": values[2]})  # 400
        author.put("/secrets/typed", json={"value": values[2], "visibility": "nope"})  # 400
        author.delete("/secrets/canary")
    assert "secret `canary` created" in caplog.text  # the capture saw the service's logs
    for value in values:
        assert value not in caplog.text


def test_private_secret_is_its_creators(
    author: Caller, admin: Caller, client: TestClient, database: Database, tenant: str
) -> None:
    _create(author, "mine", "v", visibility="private")
    peer = new_user(client, database, tenant, "manager")
    assert peer.get("/secrets/mine").status_code == 404
    assert "mine" not in [s["key"] for s in peer.get("/secrets").json()["items"]]
    assert (
        peer.put("/secrets/mine", json={"value": "x", "update_if_exists": True}).status_code == 409
    )
    assert admin.get("/secrets/mine").json()["value"] == "v"
    assert author.get("/secrets/mine").json()["visibility"] == "private"


def test_global_secret_is_seen_from_every_tenant_and_needs_sys_admin(
    author: Caller, admin: Caller, client: TestClient, database: Database
) -> None:
    refused = author.put(f"/secrets/{unique('g')}", json={"value": "v", "visibility": "global"})
    assert refused.status_code == 403
    key = unique("global")
    _create(admin, key, "everywhere", visibility="global")
    elsewhere = new_user(client, database, new_tenant(database), "viewer")
    assert elsewhere.get(f"/secrets/{key}").json()["value"] == "everywhere"
    assert key in elsewhere.get("/secrets").text
    # Another tenant's global secret can be read there but changed only by a sys_admin.
    writer = new_user(client, database, elsewhere.tenant, "user")
    assert writer.patch(f"/secrets/{key}", json={"value": "x"}).status_code == 403
    # Its key is taken everywhere.
    assert writer.put(f"/secrets/{key}", json={"value": "x"}).status_code == 409


def test_visibility_only_widens(author: Caller, admin: Caller) -> None:
    _create(author, "widen", "v", visibility="private")
    widened = author.patch("/secrets/widen/set-visibility", json={"visibility": "tenant"})
    assert widened.status_code == 200 and widened.json()["visibility"] == "tenant"
    narrowed = author.patch("/secrets/widen/set-visibility", json={"visibility": "private"})
    assert narrowed.status_code == 400
    assert narrowed.json()["error_code"] == "illegal_action_error"
    assert author.patch("/secrets/widen", json={"visibility": "global"}).status_code == 403
    assert admin.patch("/secrets/widen", json={"visibility": "global"}).json()["visibility"] == (
        "global"
    )


def test_update_and_delete(author: Caller) -> None:
    _create(author, "temp", "v1")
    assert author.patch("/secrets/temp", json={}).status_code == 400
    updated = author.patch(
        "/secrets/temp", json={"value": "v2", "provider_name": None, "is_hidden_value": None}
    ).json()
    assert updated["value"] == "v2" and updated["updated_at"] >= updated["created_at"]
    assert author.delete("/secrets/temp").status_code == 204
    missing = author.get("/secrets/temp")
    assert missing.status_code == 404 and "not found" in missing.json()["message"]
    assert author.delete("/secrets/temp").status_code == 404


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("empty", {"value": ""}),
        ("no-value", {}),
        ("bad key", {"value": "v"}),
        ("bad-visibility", {"value": "v", "visibility": "public"}),
    ],
)
def test_invalid_creations_are_400(author: Caller, key: str, body: dict[str, object]) -> None:
    response = author.put(f"/secrets/{key}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "bad_parameters_error"


def test_tenants_do_not_share_secrets(
    author: Caller, client: TestClient, database: Database
) -> None:
    _create(author, "shared-name", "tenant-a")
    other = new_user(client, database, new_tenant(database), "user")
    assert other.get("/secrets/shared-name").status_code == 404
    # The same key in another tenant is a different secret.
    assert _create(other, "shared-name", "tenant-b")["value"] == "tenant-b"
    assert author.get("/secrets/shared-name").json()["value"] == "tenant-a"


def test_get_secret_function_reads_the_decrypted_value(author: Caller) -> None:
    """Deployment outputs resolve `get_secret` through the same encrypted store."""
    _create(author, "port-secret", "8443")
    blueprint = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.Root
outputs:
  port:
    value: { get_secret: port-secret }
"""
    response = author.put(
        "/blueprints/secret-bp", headers={"Content-Type": "application/yaml"}, content=blueprint
    )
    assert response.status_code == 201, response.text
    created = author.put("/deployments/secret-dep", json={"blueprint_id": "secret-bp"})
    assert created.status_code == 201, created.text
    outputs = author.get("/deployments/secret-dep/outputs").json()
    assert outputs["outputs"] == {"port": "8443"}
