"""RunnerPool against real runner processes in a real plugin venv built from a wagon."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.workers.helpers import RecordingCallbacks, make_context, relationship_context
from workers.runners import RunnerPool

T = "qdtestplugin.tasks."


def run(
    pool: RunnerPool,
    python: str,
    task: str,
    callbacks: RecordingCallbacks | None = None,
    **kwargs: object,
) -> dict:
    timeout = kwargs.pop("run_timeout", None)
    context = make_context(T + task, **kwargs)  # type: ignore[arg-type]
    return pool.run(python, context, callbacks or RecordingCallbacks(), timeout=timeout)  # type: ignore[arg-type]


def test_warm_runner_is_reused(pool: RunnerPool, plugin_python: str) -> None:
    first = run(pool, plugin_python, "pid")
    second = run(pool, plugin_python, "pid")
    assert first["status"] == second["status"] == "succeeded"
    assert first["result"] == second["result"]
    assert run(pool, plugin_python, "dep_value")["result"] == "from qddep"


def test_inputs_arrive_as_kwargs(pool: RunnerPool, plugin_python: str) -> None:
    outcome = run(pool, plugin_python, "echo", inputs={"port": 80, "tags": ["a"]})
    assert outcome == {
        "status": "succeeded",
        "result": {"port": 80, "tags": ["a"]},
        "runtime_properties": {},
    }


def test_runtime_properties_are_returned_with_the_version_read(
    pool: RunnerPool, plugin_python: str
) -> None:
    context = make_context(
        T + "set_props", inputs={"ip": "10.0.0.1"}, runtime_properties={"old": 1}
    )
    outcome = pool.run(plugin_python, context, RecordingCallbacks())
    assert outcome["result"] == ["ip", "old"]
    assert outcome["runtime_properties"] == {
        context["instance"]["id"]: {
            "version": 3,
            "runtime_properties": {"old": 1, "ip": "10.0.0.1"},
        }
    }


def test_nested_in_place_mutation_is_tracked(pool: RunnerPool, plugin_python: str) -> None:
    context = make_context(
        T + "nested_mutation", runtime_properties={"config": {"host": "h"}, "items": [1, 2]}
    )
    outcome = pool.run(plugin_python, context, RecordingCallbacks())
    saved = outcome["runtime_properties"][context["instance"]["id"]]["runtime_properties"]
    assert saved == {"config": {"host": "h", "port": 8080}, "items": [1, 2, 3]}


def test_unchanged_instances_are_not_reported(pool: RunnerPool, plugin_python: str) -> None:
    outcome = run(pool, plugin_python, "noop", runtime_properties={"a": {"b": 1}})
    assert outcome["runtime_properties"] == {}


def test_nonrecoverable_error(pool: RunnerPool, plugin_python: str) -> None:
    outcome = run(pool, plugin_python, "fail_nonrecoverable")
    assert outcome["status"] == "failed"
    assert outcome["kind"] == "nonrecoverable"
    assert outcome["message"] == "bad input"
    assert outcome["exc_type"] == "NonRecoverableError"
    assert "fail_nonrecoverable" in outcome["traceback"]


def test_recoverable_error_keeps_runtime_properties(pool: RunnerPool, plugin_python: str) -> None:
    context = make_context(T + "fail_recoverable")
    outcome = pool.run(plugin_python, context, RecordingCallbacks())
    assert (outcome["kind"], outcome["retry_after"]) == ("recoverable", 5.0)
    assert outcome["message"] == "try later [retry_after=5]"
    instance = context["instance"]["id"]
    assert outcome["runtime_properties"][instance]["runtime_properties"] == {"attempted": True}


@pytest.mark.parametrize(
    ("task", "message", "retry_after"),
    [
        ("ask_retry", "not yet", 2.5),
        ("raise_retry", "still waiting", 1.0),
    ],
)
def test_operation_retry(
    pool: RunnerPool, plugin_python: str, task: str, message: str, retry_after: float
) -> None:
    outcome = run(pool, plugin_python, task)
    assert outcome["kind"] == "retry"
    assert (outcome["message"], outcome["retry_after"]) == (message, retry_after)
    assert outcome["exc_type"] == "OperationRetry"
    assert outcome["traceback"] == ""


@pytest.mark.parametrize(
    ("task", "exc_type"), [("plain_error", "KeyError"), ("sys_exit", "SystemExit")]
)
def test_plain_exception_is_recoverable(
    pool: RunnerPool, plugin_python: str, task: str, exc_type: str
) -> None:
    outcome = run(pool, plugin_python, task)
    assert (outcome["kind"], outcome["exc_type"]) == ("recoverable", exc_type)
    assert outcome["retry_after"] is None
    assert run(pool, plugin_python, "noop")["status"] == "succeeded"  # the runner survived


def test_missing_function_and_module(pool: RunnerPool, plugin_python: str) -> None:
    missing = run(pool, plugin_python, "no_such_function")
    assert missing["kind"] == "nonrecoverable"
    assert "has no function named 'no_such_function'" in missing["message"]
    context = make_context("nosuchplugin.tasks.create")
    outcome = pool.run(plugin_python, context, RecordingCallbacks())
    assert outcome["kind"] == "nonrecoverable"
    assert outcome["message"].startswith("No module named nosuchplugin")


def test_crash_fails_recoverable_and_runner_is_replaced(
    pool: RunnerPool, plugin_python: str
) -> None:
    before = run(pool, plugin_python, "pid")["result"]
    outcome = run(pool, plugin_python, "crash")
    assert outcome["kind"] == "recoverable"
    assert outcome["message"].startswith("runner crashed: exit code 3")
    assert "about to crash" in outcome["message"]
    after = run(pool, plugin_python, "pid")
    assert after["status"] == "succeeded"
    assert after["result"] != before


def test_update_checkpoint_survives_a_crash(pool: RunnerPool, plugin_python: str) -> None:
    context = make_context(T + "update_then_crash")
    outcome = pool.run(plugin_python, context, RecordingCallbacks())
    assert outcome["kind"] == "recoverable"
    saved = outcome["runtime_properties"][context["instance"]["id"]]
    assert saved == {"version": 3, "runtime_properties": {"saved": 1}}


@pytest.mark.parametrize(
    ("recoverable", "kind"), [(True, "recoverable"), (False, "nonrecoverable")]
)
def test_timeout_kills_the_runner(
    pool: RunnerPool, plugin_python: str, recoverable: bool, kind: str
) -> None:
    started = time.monotonic()
    outcome = run(
        pool,
        plugin_python,
        "sleep",
        inputs={"seconds": 30},
        timeout=0.5,
        timeout_recoverable=recoverable,
    )
    assert time.monotonic() - started < 5
    assert outcome["kind"] == kind
    assert outcome["message"] == "Process killed due to timeout of 0.5 seconds"
    assert run(pool, plugin_python, "noop")["status"] == "succeeded"


def test_kill_force_cancels_a_running_operation(pool: RunnerPool, plugin_python: str) -> None:
    context = make_context(T + "sleep", inputs={"seconds": 30})
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(pool.run(plugin_python, context, RecordingCallbacks()))
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not pool.kill(context["operation_id"]):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    thread.join(10)
    assert result["cancelled"] is True
    assert result["kind"] == "nonrecoverable"
    assert pool.kill("not-running") is False


@pytest.mark.parametrize("isolation", ["process", {"value": "process"}])
def test_isolation_process_uses_a_fresh_runner(
    pool: RunnerPool, plugin_python: str, isolation: object
) -> None:
    warm = run(pool, plugin_python, "pid")["result"]
    isolated_plugin = {"name": "qdtestplugin", "properties": {"isolation": isolation}}
    first = run(pool, plugin_python, "pid", plugin=isolated_plugin)["result"]
    second = run(pool, plugin_python, "pid", plugin=isolated_plugin)["result"]
    assert len({warm, first, second}) == 3
    assert run(pool, plugin_python, "pid")["result"] == warm
    assert first not in pool.runner_pids()


def test_print_does_not_corrupt_the_protocol(pool: RunnerPool, plugin_python: str) -> None:
    callbacks = RecordingCallbacks()
    outcome = run(pool, plugin_python, "noisy", callbacks)
    assert outcome["result"] == "clean"
    assert {"hello from print", "raw write to fd 1"} <= set(callbacks.messages())


def test_logs_and_events_reach_the_callbacks(pool: RunnerPool, plugin_python: str) -> None:
    callbacks = RecordingCallbacks()
    context = make_context(T + "log_things")
    assert pool.run(plugin_python, context, callbacks)["status"] == "succeeded"
    records = [r for r in callbacks.logs if r["logger"].startswith("ctx.")]
    assert [(r["level"], r["message"]) for r in records] == [
        ("info", "info 1"),
        ("warning", "careful"),
    ]
    assert records[0]["logger"] == f"ctx.{context['operation_id']}"
    assert records[0]["timestamp"].endswith("Z")
    assert [e["message"] for e in callbacks.events] == ["custom event"]


def test_get_secret_goes_through_the_callbacks(pool: RunnerPool, plugin_python: str) -> None:
    callbacks = RecordingCallbacks(secrets={"db_password": "s3cret"})
    assert (
        run(pool, plugin_python, "secret", callbacks, inputs={"key": "db_password"})["result"]
        == "s3cret"
    )
    missing = run(pool, plugin_python, "secret", callbacks, inputs={"key": "nope"})
    assert missing["kind"] == "nonrecoverable"
    assert "KeyError" in missing["message"]


def test_resources_from_blueprint_dir_then_callbacks(
    pool: RunnerPool, plugin_python: str, tmp_path: Path
) -> None:
    (tmp_path / "files").mkdir()
    template = "Hello {{ name }} on {{ ctx.node.properties.port }}"
    (tmp_path / "files" / "hello.txt").write_text(template)
    callbacks = RecordingCallbacks(resources={"remote.txt": b"from the API"})
    local = run(
        pool,
        plugin_python,
        "render",
        callbacks,
        inputs={"path": "files/hello.txt"},
        blueprint_dir=str(tmp_path),
    )
    assert local["result"] == "Hello world on 8080"
    remote = run(
        pool,
        plugin_python,
        "resource",
        callbacks,
        inputs={"path": "remote.txt"},
        blueprint_dir=str(tmp_path),
    )
    assert remote["result"] == "from the API"
    escape = run(
        pool,
        plugin_python,
        "resource",
        callbacks,
        inputs={"path": "../../etc/passwd"},
        blueprint_dir=str(tmp_path),
    )
    assert escape["status"] == "failed"


def test_cloudify_compat_imports(pool: RunnerPool, plugin_python: str) -> None:
    context = make_context(T + "cloudify_style")
    outcome = pool.run(plugin_python, context, RecordingCallbacks())
    assert outcome["result"] == 8080
    props = outcome["runtime_properties"][context["instance"]["id"]]["runtime_properties"]
    assert props == {"via": "cloudify"}


def test_relationship_operation_writes_both_sides(pool: RunnerPool, plugin_python: str) -> None:
    context = relationship_context(T + "relationship")
    outcome = pool.run(plugin_python, context, RecordingCallbacks())
    assert outcome["result"] == "relationship-instance"
    source_id = context["source"]["instance"]["id"]
    assert outcome["runtime_properties"] == {
        source_id: {"version": 3, "runtime_properties": {"target_ip": "10.0.0.5"}},
        "db_x1": {"version": 7, "runtime_properties": {"ip": "10.0.0.5", "sources": [source_id]}},
    }


def test_instance_relationships_expose_targets(pool: RunnerPool, plugin_python: str) -> None:
    context = make_context(T + "read_relationships")
    context["instance"]["relationships"] = [
        {
            "type": "cloudify.relationships.connected_to",
            "target_name": "db",
            "target_id": "db_1",
            "target": {
                "node": {"id": "db", "properties": {"port": 5432}},
                "instance": {"id": "db_1", "runtime_properties": {}},
            },
        }
    ]
    outcome = pool.run(plugin_python, context, RecordingCallbacks())
    assert outcome["result"] == ["cloudify.relationships.connected_to", "db_1", 5432]


def test_resume_requires_a_resumable_operation(pool: RunnerPool, plugin_python: str) -> None:
    assert run(pool, plugin_python, "resumable", resume=True)["result"] == "resumed"
    refused = run(pool, plugin_python, "not_resumable", resume=True)
    assert refused["kind"] == "nonrecoverable"
    assert refused["message"].startswith("Cannot resume")


def test_concurrent_operations_get_separate_runners(pool: RunnerPool, plugin_python: str) -> None:
    results: list[dict] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                run(pool, plugin_python, "sleep", inputs={"seconds": 0.3})
            )
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [r["result"] for r in results] == ["slept"] * 3


def test_lru_eviction_bounds_the_pool(plugin_python: str, tmp_path: Path) -> None:
    import sys

    with RunnerPool(max_runners=1, sdk_root=tmp_path) as small:
        small.run(plugin_python, make_context(T + "noop"), RecordingCallbacks())
        first = small.runner_pids()
        small.run(sys.executable, make_context("os.getpid"), RecordingCallbacks())
        assert len(small.runner_pids()) == 1
        assert small.runner_pids() != first


def test_broken_interpreter_fails_recoverable(pool: RunnerPool, tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'no python here' >&2\nexit 7\n")
    fake.chmod(0o755)
    outcome = pool.run(str(fake), make_context(T + "noop"), RecordingCallbacks())
    assert outcome["kind"] == "recoverable"
    assert "runner failed to start" in outcome["message"]
    assert "no python here" in outcome["message"]


def test_worker_python_without_venv(pool: RunnerPool) -> None:
    import sys

    outcome = pool.run(sys.executable, make_context("os.getcwd"), RecordingCallbacks())
    assert outcome["status"] == "succeeded"
    assert os.path.isdir(outcome["result"])


def test_discard_stops_idle_runners_of_a_rebuilt_venv(plugin_python: str, tmp_path: Path) -> None:
    with RunnerPool(sdk_root=tmp_path) as fresh_pool:
        before = fresh_pool.run(plugin_python, make_context(T + "pid"), RecordingCallbacks())
        assert fresh_pool.discard(plugin_python) == 1
        after = fresh_pool.run(plugin_python, make_context(T + "pid"), RecordingCallbacks())
        assert before["result"] != after["result"]
