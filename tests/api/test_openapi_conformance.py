"""The OpenAPI document against the real API: schemathesis sends generated requests to every
operation of the real API, served over HTTP on SQLite and the tests' Redis, and checks each answer:
its status is one the document lists for the operation, its media type and body match the
documented ones, and it is never a server error.

The server is seeded first (a blueprint, a deployment, a secret, a user, a tenant, a token),
and the document given to schemathesis names these as examples of the path parameters, so
that requests reach real resources as well as missing ones. Generation is derandomized and
bounded, so a run sends the same requests every time.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from manager.db import migrate
from manager.db.engine import Database
from manager.main import create_app
from manager.services.identity import bootstrap
from manager.settings import Settings
from tests.api.callers import SMALL_BLUEPRINT
from tests.support import free_port, wait_until

ADMIN = ("admin", secrets.token_urlsafe(12))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Generated requests per operation, after its explicit examples.
MAX_EXAMPLES = 8

# What the path parameters name on the seeded server (see `seeded`).
SEED = {
    "blueprint_id": "oas-bp",
    "deployment_id": "oas-dep",
    "key": "oas-secret",
    "tenant_name": "default_tenant",
    "username": "oas-user",
    "name": "task_retries",
    "path": "blueprint.yaml",
}


@dataclass
class Running:
    """The API served over HTTP from this process; `api()` is an admin's client."""

    url: str

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v3.1", auth=ADMIN, timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Running]:
    """The real application on a fresh SQLite database and the tests' Redis, served by
    uvicorn over HTTP from a thread of this process (no worker: executions stay queued)."""
    data_dir = tmp_path_factory.mktemp("openapi")
    database_url = f"sqlite:///{data_dir / 'quarterdeck.db'}"
    migrate.upgrade(database_url)
    database = Database(database_url)
    with database.transaction() as session:
        bootstrap(session, *ADMIN)
    database.dispose()
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=redis_url,
        secret_key=secrets.token_urlsafe(32),
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
    )
    app = create_app(settings, run_watchdog=False)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="openapi-api", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 60, what="the API to listen")
        yield Running(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def seeded(server: Running) -> dict[str, str]:
    """Resources for the path parameters to name; returns every parameter's example."""
    api = server.api()
    uploaded = api.put(
        f"/blueprints/{SEED['blueprint_id']}",
        headers={"Content-Type": "application/yaml"},
        content=SMALL_BLUEPRINT,
    )
    assert uploaded.status_code == 201, uploaded.text
    created = api.put(
        f"/deployments/{SEED['deployment_id']}", json={"blueprint_id": SEED["blueprint_id"]}
    )
    assert created.status_code == 201, created.text
    secret = api.put(f"/secrets/{SEED['key']}", json={"value": "v"})
    assert secret.status_code == 200, secret.text
    user = api.put("/users", json={"username": SEED["username"], "password": "pw-0ok!x"})
    assert user.status_code == 201, user.text
    token = api.post("/tokens", json={"description": "openapi"})
    assert token.status_code == 200, token.text
    instances = api.get("/node-instances", params={"deployment_id": SEED["deployment_id"]})
    examples = dict(SEED)
    examples["execution_id"] = created.json()["create_execution"]
    examples["instance_id"] = instances.json()["items"][0]["id"]
    examples["token_id"] = token.json()["id"]
    return examples


def with_examples(document: dict[str, Any], examples: dict[str, str]) -> dict[str, Any]:
    """The document, its path parameters given the seeded values as examples."""
    document = copy.deepcopy(document)
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in examples:
                    parameter["example"] = examples[parameter["name"]]
    return document


def test_every_answer_is_documented(server: Running, seeded: dict[str, str]) -> None:
    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(with_examples(document, seeded))
    session = requests.Session()
    session.auth = ADMIN
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # Every operation of the document is exercised but streams, which never end on their own
    # (a generated request would wait for the end of an event stream): they are listed.
    assert len(operations) == sum(len(ops) for ops in document["paths"].values())
    streams = [operation.label for operation in operations if _streams(operation)]
    print("not exercised (event streams):", streams or "none")
    for operation in operations:
        if operation.label in streams:
            continue

        @given(case=_strategy(operation))
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=server.url, session=session, timeout=30)
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as error:  # all failures are reported together
            failures.append(f"{operation.label}: {_summary(error)}")
    assert failures == [], "\n".join(sorted(set(failures)))


def _streams(operation: Any) -> bool:
    """Whether the operation's success answers are event streams only."""
    responses = operation.definition.raw.get("responses", {})
    types = {
        media_type
        for status, response in responses.items()
        if str(status).startswith("2")
        for media_type in response.get("content", {})
    }
    return bool(types) and types <= {"text/event-stream"}


def _strategy(operation: Any) -> st.SearchStrategy[Any]:
    """Valid requests, and for an operation with parameters or a body invalid ones too (a
    wrong type, a missing required field), which must be refused with a documented 400."""
    valid = operation.as_strategy()
    definition = operation.definition.raw
    if not definition.get("parameters") and "requestBody" not in definition:
        return valid
    return st.one_of(valid, operation.as_strategy(GenerationMode.NEGATIVE))


def _summary(error: BaseException) -> str:
    """The lines of a schemathesis failure that say what was wrong and how to reproduce it."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    wanted = [
        line for line in lines if line.startswith(("- ", "Received", "Documented", "curl", "`{"))
    ]
    return " | ".join(wanted or lines[:3])[:600]
