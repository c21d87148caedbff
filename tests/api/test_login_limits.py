"""Failed password checks are limited per user name and per client address (429 with
Retry-After, Cloudify error body), on the real database; a credential the caller cache knows,
and API tokens, are never held up by them."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from manager.db.base import utcnow
from manager.db.engine import Database
from manager.errors import TooManyRequests
from manager.main import create_app
from manager.services import login_limits
from manager.services.identity import create_user
from manager.services.login_limits import LoginLimits
from manager.settings import Settings

API = "/api/v3.1"
PER_USER, PER_ADDRESS, WINDOW = 3, 5, 300


@pytest.fixture(scope="module")
def limited_app(settings: Settings, database: Database) -> Iterator[FastAPI]:
    """The API with small limits, on the same database as the other tests."""
    limited = settings.model_copy(
        update={
            "login_failures_per_user": PER_USER,
            "login_failures_per_address": PER_ADDRESS,
            "login_failure_window_seconds": WINDOW,
            # Long enough that the cached-credential test cannot see its entry expire.
            "caller_cache_seconds": 60,
        }
    )
    app = create_app(limited, run_watchdog=False)
    with TestClient(app):  # runs the lifespan once for every client below
        yield app


def from_address(app: FastAPI) -> TestClient:
    """A client whose requests come from an address of their own (counts are per address)."""
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    return TestClient(app, raise_server_exceptions=False, client=(address, 40000))


def new_person(database: Database) -> tuple[str, str]:
    username, password = f"p-{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(12)
    with database.transaction() as session:
        create_user(session, username, password)
    return username, password


def status(client: TestClient, username: str, password: str) -> Response:
    return client.get(f"{API}/status", auth=(username, password))


def assert_limited(response: Response, what: str) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error_code"] == "too_many_requests_error"
    assert f"Too many failed logins for {what}" in body["message"]
    assert body["server_traceback"] is None
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW
    assert f"Try again in {retry_after} seconds" in body["message"]
    return retry_after


def test_a_user_name_is_refused_after_its_failures_from_any_address(
    limited_app: FastAPI, database: Database
) -> None:
    username, password = new_person(database)
    guesser = from_address(limited_app)
    for _ in range(PER_USER):
        assert status(guesser, username, "wrong").status_code == 401
    assert_limited(status(guesser, username, "wrong"), "this user name")
    # The right password is refused too while the name is held (else guessing goes on), from
    # any address, and so is creating a token with it.
    assert_limited(status(guesser, username, password), "this user name")
    elsewhere = from_address(limited_app)
    assert_limited(status(elsewhere, username, password), "this user name")
    token = elsewhere.post(f"{API}/tokens", json={}, auth=(username, password))
    assert_limited(token, "this user name")
    # Unknown names are counted the same way: a 429 does not say whether an account exists.
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    for _ in range(PER_USER):
        assert status(elsewhere, ghost, "wrong").status_code == 401
    assert_limited(status(elsewhere, ghost, "wrong"), "this user name")


def test_an_address_is_refused_after_its_failures_whatever_the_names(
    limited_app: FastAPI, database: Database
) -> None:
    guesser = from_address(limited_app)
    for _ in range(PER_ADDRESS):
        name, _ = new_person(database)
        assert status(guesser, name, "wrong").status_code == 401
    someone, password = new_person(database)
    address = guesser._transport.client[0]  # type: ignore[attr-defined]
    assert_limited(status(guesser, someone, password), f"address {address}")
    # The same user from another address is not held up.
    assert status(from_address(limited_app), someone, password).status_code == 200


def test_tokens_and_cached_credentials_are_not_held_up(
    limited_app: FastAPI, database: Database
) -> None:
    username, password = new_person(database)
    owner = from_address(limited_app)
    # (Creating a token changes identity rows, which empties the cache: that comes first.)
    token = owner.post(f"{API}/tokens", json={}, auth=(username, password)).json()["value"]
    assert status(owner, username, password).status_code == 200  # now in the caller cache
    guesser = from_address(limited_app)
    for _ in range(PER_USER):
        assert status(guesser, username, "wrong").status_code == 401
    assert_limited(status(guesser, username, password), "this user name")
    # The owner's credential was checked before: it is not checked again, so it still works.
    assert status(owner, username, password).status_code == 200
    by_token = owner.get(f"{API}/status", headers={"Authentication-Token": token})
    assert by_token.status_code == 200


def test_the_hold_ends_with_the_window(database: Database) -> None:
    """The window, not the attempts, ends a hold, and the next failure opens a new window.
    On the real database, with the times given rather than waited for (a wall-clock window
    of a second is shorter than two password checks on a loaded machine)."""
    limits = LoginLimits(per_user=2, per_address=0, window=timedelta(seconds=300))
    name, address = f"window-{uuid.uuid4().hex[:8]}", "10.99.0.1"
    start = utcnow()

    def check(seconds: float) -> None:
        with database.transaction() as session:
            login_limits.refuse_if_locked(
                session, limits, name, address, now=start + timedelta(seconds=seconds)
            )

    def fail(seconds: float) -> None:
        with database.transaction() as session:
            login_limits.record_failure(
                session, limits, name, address, now=start + timedelta(seconds=seconds)
            )

    fail(0)
    check(1)  # one failure of two: not held
    fail(1)
    with pytest.raises(TooManyRequests) as held:
        check(2)
    assert held.value.retry_after == 298
    with pytest.raises(TooManyRequests):
        check(299.5)
    check(300)  # the window has ended
    fail(301)  # a new window, with one failure in it
    check(302)
    fail(302)
    with pytest.raises(TooManyRequests) as held_again:
        check(303)
    assert held_again.value.retry_after == 298
