"""An execution's live stream, served by uvicorn in this process on the real database and
Redis: events arrive as they are stored (woken by Redis, not by the poll), idle streams send
heartbeats, the stream ends with the execution, and a client that leaves frees its place."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from manager.db.engine import Database
from manager.main import create_app
from manager.settings import Settings
from tests.api.callers import (
    Caller,
    create_deployment,
    start_execution_row,
    unique,
    upload_yaml,
)
from tests.support import free_port, wait_until


@dataclass
class Served:
    app: FastAPI
    url: str
    auth: tuple[str, str]


@contextmanager
def serving(
    settings: Settings, admin_credentials: tuple[str, str], **changes: Any
) -> Iterator[Served]:
    """The app, with `changes` to its settings, on a real socket (uvicorn in a thread)."""
    live_app = create_app(settings.model_copy(update=changes), run_watchdog=False)
    port = free_port()
    config = uvicorn.Config(live_app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, what="uvicorn serving the app")
    try:
        yield Served(live_app, f"http://127.0.0.1:{port}/api/v3.1", admin_credentials)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def served(
    settings: Settings, app: FastAPI, admin_credentials: tuple[str, str]
) -> Iterator[Served]:
    """The poll is an hour away, so only Redis can wake a stream in time; heartbeats come
    every 0.3 s of silence. (`app` made the admin user.)"""
    with serving(
        settings, admin_credentials, events_poll_seconds=3600, events_heartbeat_seconds=0.3
    ) as running:
        yield running


def running_execution(
    client: TestClient, database: Database, admin_credentials: tuple[str, str]
) -> tuple[str, str]:
    """A started execution of a new deployment, and its execution token."""
    admin = Caller(client, "default_tenant", admin_credentials)
    blueprint, deployment = unique("live-bp"), unique("live-dep")
    upload_yaml(admin, blueprint)
    create_deployment(admin, deployment, blueprint)
    return start_execution_row(
        database, "default_tenant", deployment, admin_credentials[0], status="started"
    )


def lines(response: httpx.Response) -> Iterator[str]:
    yield from response.iter_lines()


def next_data(stream: Iterator[str], pings: list[str]) -> tuple[str | None, dict[str, Any], str]:
    """The next event's (id, data, event name); comments seen on the way go to `pings`."""
    fields: dict[str, str] = {}
    for line in stream:
        if line.startswith(":"):
            pings.append(line)
        elif line == "":
            if "data" in fields:
                return fields.get("id"), json.loads(fields["data"]), fields.get("event", "message")
            fields = {}
        else:
            name, _, value = line.partition(": ")
            fields[name] = value
    raise AssertionError("the stream closed")


def test_events_heartbeats_end_and_leaving(
    served: Served, client: TestClient, database: Database, admin_credentials: tuple[str, str]
) -> None:
    execution_id, token = running_execution(client, database, admin_credentials)
    worker_side = httpx.Client(base_url=served.url, headers={"Execution-Token": token}, timeout=30)
    http = httpx.Client(base_url=served.url, auth=served.auth, timeout=30)
    live = served.app.state.live_events

    def send(text: str) -> None:
        stored = worker_side.post(
            "/events",
            json={
                "execution_id": execution_id,
                "logs": [{"level": "info", "message": {"text": text}}],
            },
        )
        assert stored.status_code == 201, stored.text

    send("before the client came")
    pings: list[str] = []
    with http.stream("GET", f"/executions/{execution_id}/events/stream") as response:
        assert response.status_code == 200
        stream = lines(response)
        first = next_data(stream, pings)
        assert first[0] == "1" and first[1]["message"] == "before the client came"
        wait_until(lambda: live.watched == 1, 10, what="the stream waiting")
        # Nothing happens: heartbeats.
        wait_until(lambda: next(stream) == ": ping", 10, what="a heartbeat")
        # A new event wakes the stream (the poll is an hour away).
        send("while it waits")
        second = next_data(stream, pings)
        assert second[0] == "2" and second[1]["message"] == "while it waits"
    # The client left: its stream no longer waits.
    wait_until(lambda: live.watched == 0, 10, what="the stream forgotten")

    # Resumed after the first event, it gets the second, then the end once the execution ends.
    with http.stream(
        "GET", f"/executions/{execution_id}/events/stream", headers={"Last-Event-ID": "1"}
    ) as response:
        stream = lines(response)
        assert next_data(stream, pings)[0] == "2"
        ended = http.patch(f"/executions/{execution_id}", json={"status": "terminated"})
        assert ended.status_code == 200, ended.text
        rest = []
        while True:
            number, data, event = next_data(stream, pings)
            if event == "end":
                assert data == {"execution_id": execution_id, "status": "terminated"}
                break
            rest.append(number)
        assert list(stream) == []  # closed by the server
    assert [int(n or 0) for n in rest] == list(range(3, 3 + len(rest)))


def test_a_stream_open_too_long_closes_and_resumes(
    settings: Settings,
    app: FastAPI,
    client: TestClient,
    database: Database,
    admin_credentials: tuple[str, str],
) -> None:
    """QD_EVENTS_STREAM_SECONDS: the stream closes without its end message; the client
    resumes it (authenticating again) from its last event."""
    execution_id, token = running_execution(client, database, admin_credentials)
    worker_side = httpx.Client(headers={"Execution-Token": token}, timeout=30)
    with serving(settings, admin_credentials, events_stream_seconds=0.5) as short:
        http = httpx.Client(base_url=short.url, auth=short.auth, timeout=30)
        stored = worker_side.post(
            f"{short.url}/events",
            json={"execution_id": execution_id, "logs": [{"message": {"text": "one"}}]},
        )
        assert stored.status_code == 201, stored.text
        pings: list[str] = []
        with http.stream("GET", f"/executions/{execution_id}/events/stream") as response:
            stream = lines(response)
            assert next_data(stream, pings)[0] == "1"
            assert list(stream) == []  # closed, with no end message
        with http.stream(
            "GET", f"/executions/{execution_id}/events/stream", headers={"Last-Event-ID": "1"}
        ) as response:
            assert response.status_code == 200
            assert [line for line in lines(response) if line.startswith("data")] == []
