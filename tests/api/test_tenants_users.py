"""Tenants and users over HTTP as `cfy tenants` / `cfy users` drive them."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from manager.db import migrate
from manager.db.engine import Database
from manager.errors import IllegalAction
from manager.schemas.users import UserUpdate
from manager.services import users
from manager.services.identity import act_in_tenant, bootstrap, create_user
from tests.api.callers import Caller, new_tenant, new_user, unique


@pytest.fixture()
def admin(client: TestClient, admin_credentials: tuple[str, str]) -> Caller:
    return Caller(client, "default_tenant", admin_credentials)


def _new_user(admin: Caller, role: str = "default") -> Caller:
    username, password = unique("person"), secrets.token_urlsafe(12)
    response = admin.put("/users", json={"username": username, "password": password, "role": role})
    assert response.status_code == 201, response.text
    return Caller(admin.client, "default_tenant", (username, password))


def test_tenant_lifecycle(admin: Caller) -> None:
    name = unique("tenant")
    created = admin.post(f"/tenants/{name}", json={"rabbitmq_password": ""})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == name and body["users"] == 0 and body["groups"] == 0
    assert admin.post(f"/tenants/{name}").status_code == 409
    assert name in [t["name"] for t in admin.get("/tenants").json()["items"]]
    assert admin.get(f"/tenants/{name}").json()["name"] == name
    assert admin.delete(f"/tenants/{name}").status_code == 204
    assert admin.get(f"/tenants/{name}").status_code == 404


@pytest.mark.parametrize("name", ["users", "user-groups", "bad name"])
def test_unusable_tenant_names_are_400(admin: Caller, name: str) -> None:
    assert admin.post(f"/tenants/{name}").status_code == 400


def test_default_tenant_cannot_be_deleted(admin: Caller) -> None:
    response = admin.delete("/tenants/default_tenant")
    assert response.status_code == 400


def test_tenant_with_resources_is_not_deleted(admin: Caller) -> None:
    name = unique("busy")
    admin.post(f"/tenants/{name}")
    inside = admin.in_tenant(name)
    assert inside.put("/secrets/held", json={"value": "v"}).status_code == 200
    refused = admin.delete(f"/tenants/{name}")
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "dependent_exists_error"
    assert inside.delete("/secrets/held").status_code == 204
    assert admin.delete(f"/tenants/{name}").status_code == 204


def test_membership_flow_grants_and_revokes_access(admin: Caller) -> None:
    tenant = unique("team")
    admin.post(f"/tenants/{tenant}")
    person = _new_user(admin).in_tenant(tenant)
    username = person.auth[0]  # type: ignore[index]

    # Not a member yet: the tenant's resources are out of reach, the user's own data is not.
    assert person.get("/status").status_code == 403
    me = person.get("/user").json()
    assert me["username"] == username and me["role"] == "default" and me["tenants"] == 0

    added = admin.put(
        "/tenants/users", json={"tenant_name": tenant, "username": username, "role": "viewer"}
    )
    assert added.status_code == 200, added.text
    assert added.json()["users"] == {username: {"tenant-role": "viewer", "roles": ["viewer"]}}
    assert added.json()["user_roles"]["direct"] == {username: "viewer"}
    duplicate = admin.put("/tenants/users", json={"tenant_name": tenant, "username": username})
    assert duplicate.status_code == 409
    assert person.get("/status").status_code == 200
    assert person.put("/secrets/k", json={"value": "v"}).status_code == 403

    promoted = admin.patch(
        "/tenants/users", json={"tenant_name": tenant, "username": username, "role": "user"}
    )
    assert promoted.json()["user_roles"]["direct"] == {username: "user"}
    assert person.put("/secrets/k", json={"value": "v"}).status_code == 200
    data = person.get("/user", params={"_get_data": "True"}).json()
    assert data["tenants"] == {tenant: {"tenant-role": "user", "roles": ["user"]}}
    assert data["tenant_roles"] == {"direct": {tenant: "user"}, "groups": {}}

    removed = admin.request(
        "DELETE", "/tenants/users", json={"tenant_name": tenant, "username": username}
    )
    assert removed.status_code == 204
    assert person.get("/secrets/k").status_code == 403
    gone = admin.request(
        "DELETE", "/tenants/users", json={"tenant_name": tenant, "username": username}
    )
    assert gone.status_code == 404


def test_adding_with_an_unknown_role_user_or_tenant_fails(admin: Caller) -> None:
    person = _new_user(admin)
    username = person.auth[0]  # type: ignore[index]
    bad_role = {"tenant_name": "default_tenant", "username": username, "role": "owner"}
    assert admin.put("/tenants/users", json=bad_role).status_code == 400
    no_user = {"tenant_name": "default_tenant", "username": unique("ghost")}
    assert admin.put("/tenants/users", json=no_user).status_code == 404
    no_tenant = {"tenant_name": unique("nowhere"), "username": username}
    assert admin.put("/tenants/users", json=no_tenant).status_code == 404


def test_non_admins_see_only_their_tenants(client: TestClient, database: Database) -> None:
    mine, theirs = new_tenant(database), new_tenant(database)
    member = new_user(client, database, mine, "manager")
    new_user(client, database, theirs, "manager")
    names = [t["name"] for t in member.get("/tenants").json()["items"]]
    assert names == [mine]
    assert member.get(f"/tenants/{mine}").json()["name"] == mine
    hidden = member.get(f"/tenants/{theirs}")
    assert hidden.status_code == 404 and "not found" in hidden.json()["message"]
    viewer = new_user(client, database, mine, "viewer")
    assert viewer.get(f"/tenants/{mine}").status_code == 403


def test_user_administration(admin: Caller) -> None:
    person = _new_user(admin)
    username, password = person.auth  # type: ignore[misc]
    listed = admin.get("/users", params={"_get_data": "True", "username": username}).json()
    assert [u["username"] for u in listed["items"]] == [username]
    assert listed["items"][0]["tenants"] == {}
    got = admin.get(f"/users/{username}").json()
    assert got["active"] is True and got["role"] == "default" and got["tenants"] == 0
    assert admin.put("/users", json={"username": username, "password": "x"}).status_code == 409

    new_password = secrets.token_urlsafe(12)
    changed = admin.post(f"/users/{username}", json={"password": new_password})
    assert changed.status_code == 200
    assert person.get("/user").status_code == 401
    person = Caller(admin.client, "default_tenant", (username, new_password))
    assert person.get("/user").status_code == 200
    both = admin.post(f"/users/{username}", json={"password": "a", "role": "sys_admin"})
    assert both.status_code == 400

    assert person.get("/users").status_code == 403
    assert admin.post(f"/users/{username}", json={"role": "sys_admin"}).json()["role"] == (
        "sys_admin"
    )
    assert person.get("/users").status_code == 200
    assert admin.post(f"/users/{username}", json={"role": "emperor"}).status_code == 400


def test_deactivated_users_cannot_sign_in(admin: Caller) -> None:
    person = _new_user(admin)
    username = person.auth[0]  # type: ignore[index]
    off = admin.post(f"/users/active/{username}", json={"action": "deactivate"})
    assert off.status_code == 200 and off.json()["active"] is False
    assert person.get("/user").status_code == 401
    on = admin.post(f"/users/active/{username}", json={"action": "activate"})
    assert on.json()["active"] is True
    assert person.get("/user").status_code == 200
    bogus = admin.post(f"/users/active/{username}", json={"action": "pause"})
    assert bogus.status_code == 400


def test_deleted_user_is_gone_and_keeps_nothing_usable(admin: Caller) -> None:
    person = _new_user(admin)
    username = person.auth[0]  # type: ignore[index]
    token = person.post("/tokens", json={}).json()["value"]
    assert admin.delete(f"/users/{username}").status_code == 204
    assert admin.get(f"/users/{username}").status_code == 404
    assert person.get("/user").status_code == 401
    by_token = Caller(admin.client, None, None, {"Authentication-Token": token})
    assert by_token.get("/user").status_code == 401


def test_admins_cannot_lock_themselves_out(admin: Caller) -> None:
    me = admin.auth[0]  # type: ignore[index]
    assert admin.delete(f"/users/{me}").status_code == 400
    assert admin.post(f"/users/active/{me}", json={"action": "deactivate"}).status_code == 400


def test_the_last_active_admin_keeps_the_role(empty_database_url: str) -> None:
    """On a database of its own, so the shared one's other administrators do not count."""
    migrate.upgrade(empty_database_url)
    database = Database(empty_database_url)
    try:
        with database.transaction() as session:
            bootstrap(session, "root", "pw-root")
            create_user(session, "second", "pw-second", system_role="sys_admin")
            root = act_in_tenant(session, users.get(session, "root"), "default_tenant")
            # With two administrators one may go...
            users.update(session, root, "second", UserUpdate(role="default"))
            # ...but not the last one, by any route.
            with pytest.raises(IllegalAction, match="last active sys_admin"):
                users.update(session, root, "root", UserUpdate(role="default"))
            second = act_in_tenant(session, users.get(session, "second"), "default_tenant")
            with pytest.raises(IllegalAction, match="last active sys_admin"):
                users.set_active(session, second, "root", False)
            with pytest.raises(IllegalAction, match="last active sys_admin"):
                users.delete(session, second, "root")
    finally:
        database.dispose()


def test_user_names_and_roles_are_validated(admin: Caller) -> None:
    bad_name = admin.put(
        "/users", json={"username": "no spaces", "password": "p", "role": "default"}
    )
    assert bad_name.status_code == 400
    bad_role = admin.put("/users", json={"username": unique("x"), "password": "p", "role": "root"})
    assert bad_role.status_code == 400
    prehashed = admin.put(
        "/users",
        json={"username": unique("x"), "password": "$argon2id$...", "is_prehashed": True},
    )
    assert prehashed.status_code == 400
