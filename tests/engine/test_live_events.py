"""Live event streams (Server-Sent Events), `GET /operations` and the events' time filters,
against a real API with a real worker."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.engine.blueprints import TRACING_FILES
from tests.engine.stack import PASSWORD, Stack


@dataclass
class Message:
    """One Server-Sent Event: its id, its event name (`message` unless named) and data."""

    id: str | None
    event: str
    data: str

    @property
    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Reader:
    """Parses a text/event-stream, keeping comments (`: ping`) apart."""

    comments: list[str] = field(default_factory=list)

    def messages(self, response: httpx.Response) -> Iterator[Message]:
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                if "data" in fields or "id" in fields:
                    yield Message(
                        fields.get("id"), fields.get("event", "message"), fields.get("data", "")
                    )
                fields = {}
            elif line.startswith(":"):
                self.comments.append(line)
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                fields[name] = (
                    f"{fields[name]}\n{value}" if name == "data" and name in fields else value
                )


def stream(stack: Stack, path: str, last_event_id: int | None = None):  # noqa: ANN201
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    return stack.client.stream("GET", path, headers=headers, timeout=httpx.Timeout(30, read=60))


def deployed(stack: Stack, tmp_path: Path) -> str:
    name = f"live-{uuid.uuid4().hex[:6]}"
    stack.upload(name, TRACING_FILES)
    stack.deploy(name, name, {"trace_file": str(tmp_path / "trace.txt"), "db_count": 1})
    return name


def read_to_end(stack: Stack, execution_id: str, last_event_id: int | None = None):  # noqa: ANN201
    """Every message of an execution's stream, up to its end message (returned apart)."""
    with stream(stack, f"/executions/{execution_id}/events/stream", last_event_id) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        events = []
        for message in Reader().messages(response):
            if message.event == "end":
                return events, message.json
            events.append(message)
    raise AssertionError("the stream closed without its end message")


def test_an_install_streams_every_event_in_order_and_ends(stack: Stack, tmp_path: Path) -> None:
    name = deployed(stack, tmp_path)
    execution = stack.execute(name, "install", wait=False)

    messages, end = read_to_end(stack, execution["id"])

    assert end == {"execution_id": execution["id"], "status": "terminated"}
    assert [m.id for m in messages] == [str(n) for n in range(1, len(messages) + 1)]
    stored = stack.events(execution["id"])
    assert [m.json["_storage_id"] for m in messages] == [e["_storage_id"] for e in stored]
    assert [m.json for m in messages] == stored
    assert messages[-1].json["event_type"] == "workflow_succeeded"


def test_a_reconnect_with_last_event_id_resumes_without_gap_or_repeat(
    stack: Stack, tmp_path: Path
) -> None:
    name = deployed(stack, tmp_path)
    execution = stack.execute(name, "install", wait=False)
    first: list[Message] = []
    # Leave after three events, while the install runs on.
    with stream(stack, f"/executions/{execution['id']}/events/stream") as response:
        for message in Reader().messages(response):
            first.append(message)
            if len(first) == 3:
                break
    assert [m.id for m in first] == ["1", "2", "3"]

    rest, end = read_to_end(stack, execution["id"], last_event_id=3)

    assert end["status"] == "terminated"
    ids = [int(m.id or 0) for m in first + rest]
    assert ids == list(range(1, len(ids) + 1))
    assert [m.json for m in first + rest] == stack.events(execution["id"])
    # After the end, a reconnect from the last id gets nothing but the end again.
    again, end = read_to_end(stack, execution["id"], last_event_id=ids[-1])
    assert again == [] and end["status"] == "terminated"


def test_a_deployment_stream_follows_its_executions(stack: Stack, tmp_path: Path) -> None:
    name = deployed(stack, tmp_path)
    received: list[Message] = []
    connected = threading.Event()
    failures: list[BaseException] = []

    def follow() -> None:
        try:
            with stream(stack, f"/deployments/{name}/events/stream") as response:
                assert response.status_code == 200
                for message in Reader().messages(response):
                    if not message.data:  # the opening message: where the stream starts
                        connected.set()
                        continue
                    received.append(message)
                    if message.json.get("event_type") == "workflow_succeeded":
                        return
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
        finally:
            connected.set()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    assert connected.wait(30)
    execution = stack.execute(name, "install", wait=False)
    follower.join(90)
    assert not follower.is_alive() and failures == [], failures

    stored = stack.events(execution["id"])
    assert [m.json for m in received] == stored
    assert [int(m.id or 0) for m in received] == [e["_storage_id"] for e in stored]
    assert {m.json["deployment_id"] for m in received} == {name}


def test_streams_need_credentials_and_a_visible_subject(stack: Stack, tmp_path: Path) -> None:
    name = deployed(stack, tmp_path)
    execution = stack.execute(name, "install")
    anonymous = httpx.Client(base_url=stack.client.base_url, timeout=30)
    for path in (
        f"/executions/{execution['id']}/events/stream",
        f"/deployments/{name}/events/stream",
    ):
        refused = anonymous.get(path)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error_code"] == "unauthorized_error"
    missing = stack.client.get("/executions/no-such-execution/events/stream")
    assert missing.status_code == 404, missing.text
    bad = stack.client.get(
        f"/executions/{execution['id']}/events/stream", headers={"Last-Event-ID": "x"}
    )
    assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["message"]
    # Token authentication works the same.
    token = stack.client.post("/tokens", json={"description": "live"}).json()["value"]
    tokened = httpx.Client(
        base_url=stack.client.base_url,
        headers={"Authentication-Token": token, "Tenant": "default_tenant"},
        timeout=30,
    )
    with tokened.stream("GET", f"/executions/{execution['id']}/events/stream") as response:
        assert response.status_code == 200
        ends = [m for m in Reader().messages(response) if m.event == "end"]
    assert ends and ends[0].json["status"] == "terminated"
    assert PASSWORD not in str(response.request.url)


def test_operations_of_an_execution(stack: Stack, tmp_path: Path) -> None:
    name = deployed(stack, tmp_path)
    execution = stack.execute(name, "install")
    listed = stack.client.get("/operations", params={"execution_id": execution["id"]})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    items = body["items"]
    assert body["metadata"]["pagination"]["total"] == len(items) > 0
    ids = {item["id"] for item in items}
    assert {item["execution_id"] for item in items} == {execution["id"]}
    tasks = [item for item in items if item["type"] == "RemoteWorkflowTask"]
    assert len(tasks) == execution["total_operations"]
    assert {item["state"] for item in tasks} == {"succeeded"}
    assert {t["name"] for t in tasks} >= {
        "cloudify.interfaces.lifecycle.create",
        "cloudify.interfaces.lifecycle.start",
    }
    assert all(set(item["dependencies"]) <= ids for item in items)
    assert any(item["dependencies"] for item in items)
    # One read of them is the same row as the list's (but for the dependencies).
    one = stack.client.get(f"/operations/{tasks[0]['id']}").json()
    assert {k: v for k, v in one.items() if k != "dependencies"} == {
        k: v for k, v in tasks[0].items() if k != "dependencies"
    }
    projected = stack.client.get(
        "/operations", params={"execution_id": execution["id"], "_include": "id,state"}
    ).json()["items"]
    assert set(projected[0]) == {"id", "state"}
    assert stack.client.get("/operations", params={"graph_id": "g"}).json()["items"] == []
    assert stack.client.get("/operations", params={"colour": "red"}).status_code == 400


def test_events_from_and_to_datetime(stack: Stack, tmp_path: Path) -> None:
    name = deployed(stack, tmp_path)
    execution = stack.execute(name, "install")
    stored = stack.events(execution["id"])
    moments = sorted({e["reported_timestamp"] for e in stored})
    assert len(moments) >= 3
    middle = moments[len(moments) // 2]

    def listed(**params: str) -> list[dict[str, Any]]:
        response = stack.client.get("/events", params={"execution_id": execution["id"], **params})
        assert response.status_code == 200, response.text
        return response.json()["items"]

    later = listed(from_datetime=middle)
    assert later == [e for e in stored if e["reported_timestamp"] >= middle]
    earlier = listed(to_datetime=middle)
    assert earlier == [e for e in stored if e["reported_timestamp"] <= middle]
    assert listed(from_datetime=middle, to_datetime=middle) == [
        e for e in stored if e["reported_timestamp"] == middle
    ]
    # As cloudify_rest_client sends them.
    assert listed(_range=f"@timestamp,{middle},") == later
    bad = stack.client.get("/events", params={"from_datetime": "yesterday"})
    assert bad.status_code == 400 and "from_datetime" in bad.json()["message"]
