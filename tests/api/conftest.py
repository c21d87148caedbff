"""An app on the real database and Redis, driven in-process through its ASGI interface."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from manager.db.engine import Database
from manager.main import create_app
from manager.services.identity import bootstrap
from manager.settings import Settings


@pytest.fixture(scope="session")
def admin_credentials() -> tuple[str, str]:
    return "admin", secrets.token_urlsafe(12)


@pytest.fixture(scope="session")
def settings(
    database_url: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    admin_credentials: tuple[str, str],
) -> Settings:
    return Settings(
        data_dir=Path(tmp_path_factory.mktemp("data")),
        database_url=database_url,
        broker_url=redis_url,
        secret_key=secrets.token_urlsafe(32),
        admin_username=admin_credentials[0],
        admin_password=admin_credentials[1],
    )


@pytest.fixture(scope="session")
def app(settings: Settings, database: Database) -> FastAPI:
    with database.transaction() as session:
        bootstrap(session, settings.admin_username, settings.admin_password)
    return create_app(settings, run_watchdog=False)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def admin(client: TestClient, admin_credentials: tuple[str, str]) -> TestClient:
    """The same client, sending the admin's HTTP Basic credentials on every request."""
    client.auth = admin_credentials
    return client
