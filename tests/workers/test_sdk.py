"""The SDK in-process: ctx proxy, dirty tracking, rendering, the ctx argument walk."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from quarterdeck import NonRecoverableError, RecoverableError, ctx, operation
from quarterdeck.context import OperationContext, bound
from quarterdeck.ctx_walk import WalkError, walk
from quarterdeck.dispatch import classify, run_operation
from quarterdeck.props import ReadOnlyDict, RuntimeProperties
from quarterdeck.render import render
from tests.workers.helpers import make_context, relationship_context


class NullBackend:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.records: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any]) -> Any:
        self.calls.append((method, params))
        return None

    def log(self, record: dict[str, Any]) -> None:
        self.records.append(record)


def test_runtime_properties_track_nested_changes() -> None:
    props = RuntimeProperties({"a": {"b": [1]}})
    assert not props.dirty
    props["a"]["b"].append(2)
    assert props.dirty
    props.mark_saved()
    assert not props.dirty
    props["a"]["b"].pop()
    props["a"]["b"].append(2)
    assert not props.dirty  # same content again


def test_node_properties_are_read_only() -> None:
    with pytest.raises(NonRecoverableError, match="read-only"):
        ReadOnlyDict({"a": 1})["a"] = 2


def test_render() -> None:
    variables = {"name": "x", "cfg": {"ports": [80, 443]}, "none": None}
    assert render("{{ name }}:{{cfg.ports[1]}}:{{ missing }}:{{ none }}", variables) == "x:443::"


def test_walk_paths() -> None:
    data: dict[str, Any] = {"list": [{"k": "v"}]}
    assert walk(data, ["list[0].k"]) == "v"
    assert walk(data, ["a.b.c", 7]) is None
    assert data["a"] == {"b": {"c": 7}}
    with pytest.raises(WalkError, match="illegal path: nope"):
        walk(data, ["nope"])
    with pytest.raises(WalkError, match="Illegal argument"):
        walk(data, ["a", 1, 2])


def test_ctx_proxy_is_context_local() -> None:
    with pytest.raises(RuntimeError, match="only available while an operation runs"):
        _ = ctx.node
    seen: dict[str, str] = {}

    def worker(name: str) -> None:
        context = OperationContext(make_context("m.f", node={"id": name}), NullBackend())
        with bound(context):
            threading.Event().wait(0.05)
            seen[name] = ctx.node.id

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("one", "two", "three")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"one": "one", "two": "two", "three": "three"}


def test_relationship_context_refuses_node() -> None:
    context = OperationContext(relationship_context("m.f"), NullBackend())
    assert context.type == "relationship-instance"
    assert context.target.instance.runtime_properties["ip"] == "10.0.0.5"
    with pytest.raises(NonRecoverableError, match="node-instance context"):
        _ = context.node


def test_classify_by_class_name() -> None:
    class NonRecoverableError(Exception):  # e.g. cloudify.exceptions' own class
        pass

    assert classify(NonRecoverableError("x")) == ("nonrecoverable", None)
    assert classify(RecoverableError("x", retry_after=3)) == ("recoverable", 3)
    assert classify(ValueError("x")) == ("recoverable", None)


def test_operation_decorator_and_direct_run() -> None:
    @operation(resumable=True)
    def create(port: int, ctx: Any) -> int:
        ctx.instance.runtime_properties["port"] = port
        ctx.logger.info("created")
        return port + 1

    @operation
    def plain(port: int) -> int:
        return port

    backend = NullBackend()
    context = OperationContext(make_context("m.f", inputs={"port": 80}), backend)
    outcome = run_operation(context, create)
    assert outcome["result"] == 81
    assert list(outcome["runtime_properties"].values())[0]["runtime_properties"] == {"port": 80}
    assert backend.records[0]["message"] == "created"
    assert (
        run_operation(OperationContext(make_context("m.f", inputs={"port": 1}), backend), plain)[
            "result"
        ]
        == 1
    )
