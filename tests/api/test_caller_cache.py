"""The cache of checked callers (manager.api.caller_cache) and the lean read of an execution
it serves (manager.api.polling): what this process changes applies at once, what another
process changes within the time to live, a failed check is never remembered, and answers
are the route's."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from manager.api.caller_cache import CallerCache
from manager.db import User
from manager.db.base import utcnow
from manager.db.engine import Database
from manager.errors import Unauthorized
from manager.main import create_app
from manager.services.identity import Principal
from manager.settings import Settings
from tests.api.callers import Caller, new_tenant, new_user, start_execution_row, token_caller


@dataclass(frozen=True)
class Polled:
    tenant: str
    execution_id: str
    # An execution of another tenant.
    other_tenant: str
    other_execution_id: str


@pytest.fixture(scope="module")
def polled(database: Database, admin_credentials: tuple[str, str]) -> Polled:
    tenant, other = new_tenant(database), new_tenant(database)
    admin = admin_credentials[0]
    own, _ = start_execution_row(database, tenant, None, admin, blueprint_id="bp")
    others, _ = start_execution_row(database, other, None, admin, blueprint_id="bp")
    return Polled(tenant, own, other, others)


@pytest.fixture()
def person(client: TestClient, database: Database, polled: Polled) -> Caller:
    return new_user(client, database, polled.tenant, "viewer")


@pytest.fixture()
def admin(client: TestClient, polled: Polled, admin_credentials: tuple[str, str]) -> Caller:
    return Caller(client, polled.tenant, admin_credentials)


def _callers(client: TestClient) -> CallerCache:
    callers: CallerCache = client.app.state.callers  # type: ignore[attr-defined]
    return callers


def _name(caller: Caller) -> str:
    assert caller.auth is not None
    return caller.auth[0]


def _basic(caller: Caller) -> str:
    assert caller.auth is not None
    return "Basic " + base64.b64encode(":".join(caller.auth).encode()).decode()


def _basic_key(client: TestClient, caller: Caller, tenant: str) -> bytes:
    """The cache key of a Basic credential: it holds the address it came from (the test
    client's), so a password is never taken from the cache for another address."""
    return _callers(client).key("basic", f"testclient\0{_basic(caller)}", tenant)


def _poll(caller: Caller, polled: Polled) -> int:
    return caller.get(f"/executions/{polled.execution_id}").status_code


def _token(caller: Caller) -> dict[str, str]:
    response = caller.post("/tokens", json={})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_polling_caller_is_checked_once(
    client: TestClient, person: Caller, polled: Polled
) -> None:
    key = _basic_key(client, person, polled.tenant)
    assert _callers(client).get(key) is None
    assert _poll(person, polled) == 200
    cached = _callers(client).get(key)
    assert cached is not None and cached.username == _name(person)
    assert _poll(person, polled) == 200


def test_a_revoked_token_stops_working_at_once(
    client: TestClient, person: Caller, polled: Polled
) -> None:
    token = _token(person)
    by_token = token_caller(client, token["value"], polled.tenant)
    assert _poll(by_token, polled) == 200
    assert _poll(by_token, polled) == 200
    assert person.delete(f"/tokens/{token['id']}").status_code == 204
    assert _poll(by_token, polled) == 401


def test_a_deleted_user_stops_working_at_once(
    client: TestClient, admin: Caller, person: Caller, polled: Polled
) -> None:
    by_token = token_caller(client, _token(person)["value"], polled.tenant)
    assert _poll(person, polled) == _poll(by_token, polled) == 200
    assert admin.delete(f"/users/{_name(person)}").status_code == 204
    assert _poll(person, polled) == _poll(by_token, polled) == 401


def test_a_deactivated_user_stops_working_at_once(
    client: TestClient, admin: Caller, person: Caller, polled: Polled
) -> None:
    by_token = token_caller(client, _token(person)["value"], polled.tenant)
    assert _poll(person, polled) == _poll(by_token, polled) == 200
    username = _name(person)
    off = admin.post(f"/users/active/{username}", json={"action": "deactivate"})
    assert off.status_code == 200
    assert _poll(person, polled) == _poll(by_token, polled) == 401
    assert admin.post(f"/users/active/{username}", json={"action": "activate"}).status_code == 200
    assert _poll(person, polled) == _poll(by_token, polled) == 200


def test_a_changed_password_applies_at_once(admin: Caller, person: Caller, polled: Polled) -> None:
    assert _poll(person, polled) == 200
    username = _name(person)
    changed = admin.post(f"/users/{username}", json={"password": "the-new-password"})
    assert changed.status_code == 200
    assert _poll(person, polled) == 401
    renewed = Caller(person.client, polled.tenant, (username, "the-new-password"))
    assert _poll(renewed, polled) == 200


def test_a_wrong_password_is_never_remembered(
    client: TestClient, person: Caller, polled: Polled
) -> None:
    wrong = Caller(person.client, polled.tenant, (_name(person), "not-the-password"))
    assert _poll(wrong, polled) == 401
    assert _poll(person, polled) == 200
    assert _poll(wrong, polled) == 401
    callers = _callers(client)
    assert callers.get(_basic_key(person.client, wrong, polled.tenant)) is None
    assert _poll(person, polled) == 200


def test_a_changed_membership_applies_at_once(
    admin: Caller, person: Caller, polled: Polled
) -> None:
    member = {"tenant_name": polled.tenant, "username": _name(person)}
    assert person.put("/secrets/cache-probe", json={"value": "v"}).status_code == 403
    assert admin.patch("/tenants/users", json={**member, "role": "user"}).status_code == 200
    assert person.put("/secrets/cache-probe", json={"value": "v"}).status_code == 200
    assert _poll(person, polled) == 200
    assert admin.request("DELETE", "/tenants/users", json=member).status_code == 204
    assert _poll(person, polled) == 403


def test_another_tenants_execution_stays_hidden_from_a_known_caller(
    person: Caller, polled: Polled
) -> None:
    assert _poll(person, polled) == 200
    other = person.get(f"/executions/{polled.other_execution_id}")
    assert other.status_code == 404
    assert other.json()["error_code"] == "not_found_error"
    # Asking in the other tenant (not the caller's) is refused, cache or not.
    in_other = person.in_tenant(polled.other_tenant)
    assert in_other.get(f"/executions/{polled.other_execution_id}").status_code == 403
    assert in_other.get(f"/executions/{polled.other_execution_id}").status_code == 403


def test_a_known_caller_gets_what_the_route_answers(person: Caller, polled: Polled) -> None:
    """The first read goes through the route (and fills the cache), the next ones through
    the lean path of manager.api.polling: the same body, and a request id on each."""
    path = f"/executions/{polled.execution_id}"
    first, second = person.get(path), person.get(path)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["id"] == polled.execution_id
    assert first.headers["content-type"] == second.headers["content-type"] == "application/json"
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_include_applies_to_a_known_caller(person: Caller, polled: Polled) -> None:
    assert _poll(person, polled) == 200
    got = person.get(f"/executions/{polled.execution_id}", params={"_include": "id,status"})
    assert got.json() == {"id": polled.execution_id, "status": "pending"}
    unknown = person.get(f"/executions/{polled.execution_id}", params={"_include": "nope"})
    assert unknown.status_code == 400
    assert unknown.json()["error_code"] == "no_such_include_field_error"


@pytest.fixture()
def short_lived_app(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"caller_cache_seconds": 0.5}), run_watchdog=False)


def test_changes_made_by_another_process_apply_within_the_ttl(
    short_lived_app: FastAPI, database: Database, polled: Polled
) -> None:
    with TestClient(short_lived_app) as client:
        person = new_user(client, database, polled.tenant, "viewer")
        assert _poll(person, polled) == 200
        # `database` is not the app's: to the app this is another process's write.
        with database.transaction() as session:
            session.execute(update(User).where(User.username == _name(person)).values(active=False))
        time.sleep(0.6)
        assert _poll(person, polled) == 401


def _principal(name: str = "someone") -> Principal:
    return Principal(1, name, "default", 1, "default_tenant", "viewer")


def test_keys_are_keyed_digests_of_credential_and_tenant() -> None:
    cache = CallerCache("secret-one", ttl=5)
    key = cache.key("token", "ctok-id-secret", "t1")
    assert len(key) == 32 and b"secret" not in key
    assert key != cache.key("token", "ctok-id-secret", "t2")
    assert key != cache.key("basic", "ctok-id-secret", "t1")
    assert key != CallerCache("secret-two", ttl=5).key("token", "ctok-id-secret", "t1")


def test_entries_expire_with_the_ttl_and_with_the_token() -> None:
    cache = CallerCache("k", ttl=0.2)
    cache.put(b"a", _principal(), cache.generation)
    cache.put(b"b", _principal(), cache.generation, valid_until=utcnow() - timedelta(seconds=1))
    assert cache.get(b"a") is not None and cache.get(b"b") is None
    time.sleep(0.25)
    assert cache.get(b"a") is None
    assert CallerCache("k", ttl=0).get(b"a") is None


def test_a_check_that_began_before_a_clear_is_not_stored() -> None:
    cache = CallerCache("k", ttl=5)
    generation = cache.generation
    cache.clear()
    cache.put(b"a", _principal(), generation)
    assert cache.get(b"a") is None


def test_concurrent_misses_of_one_credential_share_one_check() -> None:
    cache = CallerCache("k", ttl=5)
    checks: list[bytes] = []

    async def check_slowly(key: bytes) -> tuple[Principal, None]:
        checks.append(key)
        await asyncio.sleep(0.05)
        return _principal(key.decode()), None

    async def poll(key: bytes) -> Principal:
        return await cache.get_or_check(key, lambda: check_slowly(key))

    async def many() -> list[Principal]:
        return await asyncio.gather(*(poll(b"a") for _ in range(20)), poll(b"b"))

    found = asyncio.run(many())
    assert sorted(checks) == [b"a", b"b"]
    assert {p.username for p in found} == {"a", "b"}
    assert cache.get(b"a") is not None


def test_a_refused_check_is_shared_and_not_remembered() -> None:
    cache = CallerCache("k", ttl=5)
    checks = 0

    async def refuse() -> tuple[Principal, None]:
        nonlocal checks
        checks += 1
        await asyncio.sleep(0.01)
        raise Unauthorized("Invalid authentication token")

    async def many() -> list[BaseException | Principal]:
        polls = (cache.get_or_check(b"a", refuse) for _ in range(5))
        return await asyncio.gather(*polls, return_exceptions=True)

    assert all(isinstance(r, Unauthorized) for r in asyncio.run(many()))
    assert checks == 1 and cache.get(b"a") is None
    asyncio.run(many())
    assert checks == 2


def test_the_cache_is_bounded() -> None:
    cache = CallerCache("k", ttl=5, max_entries=3)
    for n in range(10):
        cache.put(bytes([n]), _principal(str(n)), cache.generation)
    assert len(cache) == 3
    assert cache.get(bytes([9])) is not None and cache.get(bytes([0])) is None
