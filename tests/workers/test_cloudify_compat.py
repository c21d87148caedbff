"""Cloudify's file-based dispatch in a real plugin venv holding cloudify-common 7.0.5: the
context it gets, how its outcomes map to ours, timeouts and force-cancel. The operations
here touch no REST endpoint; tests/engine/test_cloudify_plugins.py runs them against the API.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.compat.reference_env import ReferenceUnavailable
from tests.workers.cloudify_plugin import PACKAGE, VERSION, build_cloudify_wagon
from tests.workers.conftest import TENANT
from tests.workers.helpers import make_context, relationship_context
from workers.cloudify_compat import (
    CloudifyDispatcher,
    RestEndpoint,
    cloudify_context,
    holds_cloudify_common,
    outcome_from_output,
)
from workers.venvs import VenvManager

REST = RestEndpoint("http", "127.0.0.1", 8100)


# the context and the outcome mapping --------------------------------------------------------


def test_node_operation_context_has_the_reference_fields() -> None:
    context = make_context(
        "qdcfyplugin.tasks.create",
        inputs={"port": 8080},
        queue="central",
        execution_token="tok",
        deployment_display_name="Dep One",
    )
    context["plugin"].update(id="p1", visibility="tenant", tenant_name=TENANT)
    built = cloudify_context(context, REST)
    assert built["__cloudify_context"] == "0.3"
    assert built["type"] == "operation"
    assert built["task_id"] == context["operation_id"]
    assert built["task_name"] == "qdcfyplugin.tasks.create"
    assert built["task_queue"] == built["task_target"] == "cloudify.management"
    assert built["tenant"] == {"name": TENANT}
    assert built["node_id"] == context["instance"]["id"]
    assert built["node_name"] == "vm"
    assert built["operation"] == {
        "name": "cloudify.interfaces.lifecycle.create",
        "retry_number": 0,
        "max_retries": 60,
    }
    assert built["rest_token"] == built["execution_token"] == "tok"
    assert (built["rest_host"], built["rest_port"]) == (["127.0.0.1"], 8100)
    assert built["has_intrinsic_functions"] is False
    assert built["local"] is False
    assert built["deployment_display_name"] == "Dep One"
    assert built["plugin"]["package_name"] == "qdtestplugin"
    assert "related" not in built


def test_relationship_contexts_name_the_other_side_as_related() -> None:
    source_side = relationship_context("qdcfyplugin.tasks.connect")
    built = cloudify_context(source_side, REST)
    assert built["operation"]["relationship"] == "source"
    assert built["node_id"] == source_side["source"]["instance"]["id"]
    assert built["related"] == {"node_id": "db_x1", "node_name": "db", "is_target": True}

    target_side = relationship_context("qdcfyplugin.tasks.connect")
    target_side["operation"]["relationship"] = "target"
    target_side["node"] = target_side["target"]["node"]
    target_side["instance"] = target_side["target"]["instance"]
    built = cloudify_context(target_side, REST)
    assert (built["node_id"], built["node_name"]) == ("db_x1", "db")
    assert built["related"] == {
        "node_id": target_side["source"]["instance"]["id"],
        "node_name": "vm",
        "is_target": False,
    }


def test_agent_queue_is_the_task_target() -> None:
    built = cloudify_context(make_context("p.t", queue="agent.vm_abc123"), REST)
    assert built["task_queue"] == built["task_target"] == "agent.vm_abc123"


def _error(known: str, args: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    payload = {
        "exception_type": extra.pop("exception_type", known),
        "message": "it broke",
        "known_exception_type": known,
        "known_exception_type_args": args or [],
        "known_exception_type_kwargs": {"causes": extra.pop("causes", [])},
        "append_message": False,
        "traceback": "Traceback ...",
    }
    return {"type": "error", "payload": payload}


@pytest.mark.parametrize(
    ("known", "args", "kind", "retry_after"),
    [
        ("NonRecoverableError", [], "nonrecoverable", None),
        ("HttpException", ["http://x", 404], "nonrecoverable", None),
        ("RecoverableError", [5], "recoverable", 5),
        ("RecoverableError", [None], "recoverable", None),
        ("OperationRetry", [2], "retry", 2),
        ("StopAgent", [], "nonrecoverable", None),
    ],
)
def test_error_payloads_map_to_outcome_kinds(
    known: str, args: list[Any], kind: str, retry_after: Any
) -> None:
    causes = [{"message": "inner", "type": "ValueError", "traceback": "tb"}]
    outcome = outcome_from_output(_error(known, args, causes=causes))
    assert outcome["status"] == "failed"
    assert (outcome["kind"], outcome["retry_after"]) == (kind, retry_after)
    assert outcome["message"] == "it broke"
    assert outcome["exc_type"] == known
    assert outcome["traceback"] == "Traceback ..."
    assert outcome["causes"] == causes
    assert outcome["runtime_properties"] == {}


def test_result_maps_to_success_without_runtime_properties() -> None:
    assert outcome_from_output({"type": "result", "payload": {"a": 1}}) == {
        "status": "succeeded",
        "result": {"a": 1},
        "runtime_properties": {},
    }


def test_rest_endpoint_from_the_api_url() -> None:
    assert RestEndpoint.from_url("http://10.0.0.5:8100") == RestEndpoint("http", "10.0.0.5", 8100)
    assert RestEndpoint.from_url("https://qd.example") == RestEndpoint("https", "qd.example", 443)


# running cloudify.dispatch in a real plugin venv ------------------------------------------


@pytest.fixture(scope="module")
def cloudify_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    try:
        wagon = build_cloudify_wagon(tmp_path_factory.mktemp("cfy-wagon"))
    except ReferenceUnavailable as exc:
        pytest.skip(f"cloudify-common 7.0.5 is not available: {exc}")
    plugin = {"name": "qdcfy", "package_name": PACKAGE, "package_version": VERSION}
    venvs = VenvManager(tmp_path_factory.mktemp("cfy-venvs"))
    return str(venvs.ensure_plugin(TENANT, plugin, archive=wagon))


@pytest.fixture
def dispatcher(tmp_path: Path) -> CloudifyDispatcher:
    # Nothing here calls the API back; the address only reaches the environment.
    return CloudifyDispatcher(tmp_path / "cloudify", "http://127.0.0.1:8100", "test-worker")


def _run(dispatcher: CloudifyDispatcher, python: str, task: str, **context: Any) -> dict:
    return dispatcher.run(python, make_context(f"qdcfyplugin.tasks.{task}", **context))


def test_detects_cloudify_common_per_venv(cloudify_python: str, plugin_python: str) -> None:
    assert holds_cloudify_common(cloudify_python)
    assert not holds_cloudify_common(plugin_python)


def test_result_comes_back(cloudify_python: str, dispatcher: CloudifyDispatcher) -> None:
    context = make_context("qdcfyplugin.tasks.give", inputs={"value": [1, "two"]})
    outcome = dispatcher.run(cloudify_python, context)
    assert outcome["status"] == "succeeded", outcome
    assert outcome["result"] == {
        "value": [1, "two"],
        "task_id": context["operation_id"],
        "node": "vm",
    }
    assert not list((dispatcher.tasks_dir).iterdir()), "the task directory is removed"


@pytest.mark.parametrize(
    ("task", "kind", "exc_type", "retry_after", "message"),
    [
        ("fail_hard", "nonrecoverable", "NonRecoverableError", None, "broken for good"),
        ("fail_soft", "recoverable", "RecoverableError", 7, "try later"),
        ("fail_plain", "recoverable", "KeyError", None, "'missing'"),
        ("ask_retry", "retry", "OperationRetry", 3, "not yet"),
        ("no_such_function", "nonrecoverable", "NonRecoverableError", None, "no_such_function"),
    ],
)
def test_errors_keep_cloudify_semantics(
    cloudify_python: str,
    dispatcher: CloudifyDispatcher,
    task: str,
    kind: str,
    exc_type: str,
    retry_after: Any,
    message: str,
) -> None:
    outcome = _run(dispatcher, cloudify_python, task)
    assert outcome["status"] == "failed", outcome
    assert (outcome["kind"], outcome["exc_type"]) == (kind, exc_type), outcome
    assert outcome["retry_after"] == retry_after
    assert message in outcome["message"]
    if kind != "retry":
        assert outcome["traceback"], outcome


def test_environment_of_the_dispatch_process(
    cloudify_python: str, dispatcher: CloudifyDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QD_WORKER_TOKEN", "not-for-plugins")
    outcome = _run(dispatcher, cloudify_python, "environment")
    assert outcome["status"] == "succeeded", outcome
    env = outcome["result"]
    assert (env["REST_HOST"], env["REST_PORT"], env["REST_PROTOCOL"]) == (
        "127.0.0.1",
        "8100",
        "http",
    )
    assert os.path.isfile(env["LOCAL_REST_CERT_FILE"])
    assert env["AGENT_WORK_DIR"] == str(dispatcher.agent_work_dir)
    assert env["qd"] == [], "the worker's settings stay out of plugin processes"


def test_timeout_terminates_the_process(
    cloudify_python: str, dispatcher: CloudifyDispatcher, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    started = time.monotonic()
    outcome = _run(
        dispatcher,
        cloudify_python,
        "sleep",
        inputs={"seconds": 60, "marker": str(marker)},
        timeout=2,
        timeout_recoverable=True,
    )
    assert time.monotonic() - started < 20
    assert outcome["kind"] == "recoverable", outcome
    assert outcome["message"] == "Process killed due to timeout of 2 seconds"
    _assert_gone(int(marker.read_text()))


def test_force_cancel_kills_the_process(
    cloudify_python: str, dispatcher: CloudifyDispatcher, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    context = make_context("qdcfyplugin.tasks.sleep", inputs={"seconds": 60, "marker": str(marker)})
    outcomes: list[dict[str, Any]] = []
    thread = threading.Thread(
        target=lambda: outcomes.append(dispatcher.run(cloudify_python, context))
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dispatcher.kill(context["operation_id"])
    thread.join(timeout=20)
    assert outcomes and outcomes[0]["cancelled"] is True, outcomes
    _assert_gone(int(marker.read_text()))
    assert not dispatcher.kill(context["operation_id"])


def _assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} is still alive")
