"""Script operations with real bash and Python processes and the `ctx` command."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.workers.helpers import RecordingCallbacks, make_context, relationship_context
from workers.scripts import SCRIPT_TASK, ScriptExecutor


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptExecutor]:
    yield ScriptExecutor(tmp_path_factory.mktemp("scripts"))


@pytest.fixture
def blueprint(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    return tmp_path


def script_context(blueprint: Path, name: str, body: str, **kwargs: Any) -> dict[str, Any]:
    (blueprint / "scripts" / name).write_text(textwrap.dedent(body).lstrip())
    inputs = {"script_path": f"scripts/{name}", **kwargs.pop("inputs", {})}
    return make_context(
        SCRIPT_TASK,
        inputs=inputs,
        implementation=f"scripts/{name}",
        blueprint_dir=str(blueprint),
        **kwargs,
    )


def props_of(outcome: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    return outcome["runtime_properties"][context["instance"]["id"]]["runtime_properties"]


def test_bash_script_reads_and_writes_through_ctx(
    executor: ScriptExecutor, blueprint: Path
) -> None:
    context = script_context(
        blueprint,
        "create.sh",
        """
        #!/bin/bash
        set -e
        port=$(ctx node properties port)
        ctx instance runtime-properties port "$port"
        ctx instance runtime-properties nested.deep.value 7
        ctx instance runtime-properties config '@{"n": 5, "tags": ["a"]}'
        ctx instance runtime-properties greeting "$GREETING"
        ctx instance runtime-properties settings_name "$(echo "$SETTINGS")"
        ctx logger info "created on $port"
        test "$(ctx instance runtime-properties nested.deep.value)" = 7
        test -z "$(ctx operation retry_number)"
        echo "to stdout"
        echo "to stderr" >&2
        ctx returns "$(ctx instance id)"
    """,
        inputs={"GREETING": "hi", "SETTINGS": {"a": True}},
        runtime_properties={"keep": 1},
    )
    callbacks = RecordingCallbacks()
    outcome = executor.run(context, callbacks)
    assert outcome["status"] == "succeeded", outcome
    assert outcome["result"] == context["instance"]["id"]
    assert props_of(outcome, context) == {
        "keep": 1,
        "port": "8080",
        "nested": {"deep": {"value": "7"}},
        "config": {"n": 5, "tags": ["a"]},
        "greeting": "hi",
        "settings_name": '{"a": true}',
    }
    messages = callbacks.messages()
    assert "created on 8080" in messages
    assert "<out> to stdout" in messages and "<err> to stderr" in messages


def test_python_script_with_cloudify_imports(executor: ScriptExecutor, blueprint: Path) -> None:
    context = script_context(
        blueprint,
        "configure.py",
        """
        from cloudify import ctx
        from cloudify.state import ctx_parameters as inputs
        from cloudify.exceptions import NonRecoverableError

        assert __name__ == "__main__"
        props = ctx.instance.runtime_properties
        props["config"]["port"] = inputs["port"]   # nested, in place
        props["node_type"] = ctx.node.type
        del props["obsolete"]
        ctx.logger.info("configured %s", ctx.instance.id)
        ctx.returns({"ok": True})
    """,
        inputs={"port": 9000},
        runtime_properties={"config": {"host": "h"}, "obsolete": 1},
    )
    callbacks = RecordingCallbacks()
    outcome = executor.run(context, callbacks)
    assert outcome["status"] == "succeeded", outcome
    assert outcome["result"] == {"ok": True}
    assert props_of(outcome, context) == {
        "config": {"host": "h", "port": 9000},
        "node_type": "cloudify.nodes.Root",
    }
    assert f"configured {context['instance']['id']}" in callbacks.messages()


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        ("NonRecoverableError('no way')", "nonrecoverable"),
        ("RuntimeError('flaky')", "recoverable"),
    ],
)
def test_python_script_exceptions(
    executor: ScriptExecutor, blueprint: Path, raised: str, kind: str
) -> None:
    context = script_context(
        blueprint,
        "fail.py",
        f"""
        from cloudify import ctx
        from cloudify.exceptions import NonRecoverableError
        ctx.instance.runtime_properties["before_failure"] = True
        raise {raised}
    """,
    )
    outcome = executor.run(context, RecordingCallbacks())
    assert outcome["kind"] == kind
    assert props_of(outcome, context) == {"before_failure": True}


def test_abort_wins_even_with_exit_zero(executor: ScriptExecutor, blueprint: Path) -> None:
    context = script_context(
        blueprint,
        "abort.sh",
        """
        #!/bin/sh
        ctx abort-operation "disk full" || echo "ctx exited $?"
        exit 0
    """,
    )
    callbacks = RecordingCallbacks()
    outcome = executor.run(context, callbacks)
    assert (outcome["kind"], outcome["message"]) == ("nonrecoverable", "disk full")
    assert "<out> ctx exited 1" in callbacks.messages()


def test_retry_operation_with_retry_after(executor: ScriptExecutor, blueprint: Path) -> None:
    context = script_context(
        blueprint,
        "retry.sh",
        """
        #!/bin/sh
        ctx retry-operation "not ready" @15
    """,
    )
    outcome = executor.run(context, RecordingCallbacks())
    assert outcome["kind"] == "retry"
    assert (outcome["message"], outcome["retry_after"]) == ("not ready", 15.0)


def test_return_and_abort_together_fail(executor: ScriptExecutor, blueprint: Path) -> None:
    context = script_context(
        blueprint,
        "both.sh",
        """
        #!/bin/sh
        ctx returns 1
        ctx abort-operation nope
    """,
    )
    outcome = executor.run(context, RecordingCallbacks())
    assert outcome["message"] == "ctx may only abort or return once"


def test_nonzero_exit_is_recoverable(executor: ScriptExecutor, blueprint: Path) -> None:
    context = script_context(
        blueprint,
        "exit.sh",
        """
        echo working
        echo broken >&2
        exit 3
    """,
    )
    outcome = executor.run(context, RecordingCallbacks())
    assert (outcome["kind"], outcome["exc_type"]) == ("recoverable", "ProcessException")
    assert "exit_code: 3" in outcome["message"]
    assert "stdout: working" in outcome["message"] and "stderr: broken" in outcome["message"]


def test_ctx_errors_reach_the_script(executor: ScriptExecutor, blueprint: Path) -> None:
    context = script_context(
        blueprint,
        "err.sh",
        """
        #!/bin/sh
        if ctx instance runtime-properties missing.key 2>err.txt; then exit 9; fi
        grep -q "illegal path: missing.key" err.txt || exit 8
        ctx node properties port 99 2>/dev/null && exit 7
        ctx returns fine
    """,
    )
    outcome = executor.run(context, RecordingCallbacks())
    assert outcome["result"] == "fine", outcome


def test_relationship_script_and_download(executor: ScriptExecutor, blueprint: Path) -> None:
    (blueprint / "files").mkdir()
    (blueprint / "files" / "conf.tmpl").write_text("ip={{ ip }}")
    (blueprint / "scripts" / "link.sh").write_text(
        textwrap.dedent("""
        #!/bin/sh
        set -e
        ip=$(ctx target instance runtime-properties ip)
        ctx source instance runtime-properties db_ip "$ip"
        vars="@{\\"template_variables\\": {\\"ip\\": \\"$ip\\"}}"
        path=$(ctx download-resource-and-render files/conf.tmpl "$vars")
        ctx source instance runtime-properties conf "$(cat "$path")"
        ctx returns "$(ctx type)"
    """).lstrip()
    )
    context = relationship_context(
        SCRIPT_TASK, inputs={"script_path": "scripts/link.sh"}, blueprint_dir=str(blueprint)
    )
    outcome = executor.run(context, RecordingCallbacks())
    assert outcome["result"] == "relationship-instance", outcome
    source = context["source"]["instance"]["id"]
    assert outcome["runtime_properties"] == {
        source: {"version": 3, "runtime_properties": {"db_ip": "10.0.0.5", "conf": "ip=10.0.0.5"}}
    }


def test_concurrent_scripts_are_isolated(executor: ScriptExecutor, blueprint: Path) -> None:
    (blueprint / "scripts" / "own.sh").write_text(
        textwrap.dedent("""
        #!/bin/sh
        set -e
        me=$(ctx instance id)
        ctx instance runtime-properties owner "$me"
        sleep 0.2
        ctx instance runtime-properties check "$(ctx instance runtime-properties owner)"
        ctx returns "$ME_INPUT"
    """).lstrip()
    )
    contexts = [
        make_context(
            SCRIPT_TASK,
            inputs={"script_path": "scripts/own.sh", "ME_INPUT": str(i)},
            blueprint_dir=str(blueprint),
        )
        for i in range(12)
    ]
    outcomes: dict[int, dict[str, Any]] = {}

    def one(index: int) -> None:
        outcomes[index] = executor.run(contexts[index], RecordingCallbacks())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(contexts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for index, context in enumerate(contexts):
        me = context["instance"]["id"]
        assert outcomes[index].get("result") == str(index), outcomes[index]
        assert props_of(outcomes[index], context) == {"owner": me, "check": me}


def test_script_timeout_and_kill(executor: ScriptExecutor, blueprint: Path) -> None:
    context = script_context(
        blueprint, "slow.sh", "sleep 30\n", timeout=0.5, timeout_recoverable=True
    )
    started = time.monotonic()
    outcome = executor.run(context, RecordingCallbacks())
    assert time.monotonic() - started < 5
    assert (outcome["kind"], outcome["message"]) == (
        "recoverable",
        "Process killed due to timeout of 0.5 seconds",
    )

    context = script_context(blueprint, "slow2.sh", "sleep 30\n")
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(executor.run(context, RecordingCallbacks()))
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not executor.kill(context["operation_id"]):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    thread.join(10)
    assert result["cancelled"] is True


def test_update_checkpoint_and_missing_script(executor: ScriptExecutor, blueprint: Path) -> None:
    context = script_context(
        blueprint,
        "update.sh",
        """
        #!/bin/sh
        ctx instance runtime-properties early yes
        ctx instance update
        exit 4
    """,
    )
    outcome = executor.run(context, RecordingCallbacks())
    assert outcome["kind"] == "recoverable"
    assert props_of(outcome, context) == {"early": "yes"}

    missing = make_context(
        SCRIPT_TASK, inputs={"script_path": "scripts/none.sh"}, blueprint_dir=str(blueprint)
    )
    outcome = executor.run(missing, RecordingCallbacks())
    assert outcome["kind"] == "nonrecoverable"
    assert "scripts/none.sh" in outcome["message"]


def test_script_source_and_python_in_plugin_venv(
    executor: ScriptExecutor, blueprint: Path, plugin_python: str
) -> None:
    source = "import qddep\nfrom cloudify import ctx\nctx.returns(qddep.VALUE)\n"
    context = make_context(
        SCRIPT_TASK, inputs={"script_source": source}, blueprint_dir=str(blueprint)
    )
    outcome = executor.run(context, RecordingCallbacks(), python=plugin_python)
    assert outcome["result"] == "from qddep", outcome


def test_long_work_dir_still_gets_a_socket(blueprint: Path, tmp_path: Path) -> None:
    long_dir = tmp_path / ("d" * 60) / ("e" * 60)
    context = script_context(blueprint, "id.sh", '#!/bin/sh\nctx returns "$(ctx node id)"\n')
    outcome = ScriptExecutor(long_dir).run(context, RecordingCallbacks())
    assert outcome["result"] == "vm", outcome
