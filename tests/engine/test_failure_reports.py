"""Failures say where and why (issue 15 item 7): an execution's error names the node
instance, the operation and the exception, and what a script wrote to stderr is logged as a
warning. Through a real API and worker."""

from __future__ import annotations

import uuid

from tests.engine.stack import Stack

FAIL_SH = """\
#!/bin/bash
echo "disk is full" >&2
exit 3
"""

SCRIPTED = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  db:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/fail.sh
"""

PYTHON = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  web:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        configure: scripts/fail.py
"""

FAIL_PY = """\
settings = {}
settings["missing_key"]
"""


def _install(stack: Stack, blueprint: str, files: dict[str, str]) -> tuple[dict, list[dict]]:
    name = f"{blueprint}-{uuid.uuid4().hex[:6]}"
    stack.upload(name, files)
    stack.deploy(name, name)
    execution = stack.execute(name, "install", task_retries=0)
    return execution, stack.events(execution["id"])


def test_a_failed_python_operation_names_its_instance_operation_and_exception(
    stack: Stack,
) -> None:
    execution, _ = _install(stack, "failpy", {"blueprint.yaml": PYTHON, "scripts/fail.py": FAIL_PY})
    assert execution["status"] == "failed"
    instance = next(iter(stack.instances(execution["deployment_id"])))
    assert instance.startswith("web_")
    assert execution["error"] == (
        f"Task failed: {instance}: cloudify.interfaces.lifecycle.configure: "
        "KeyError: 'missing_key' (script_runner.tasks.run)"
    )


def test_a_failed_script_names_its_exit_and_logs_its_stderr_as_a_warning(stack: Stack) -> None:
    execution, events = _install(
        stack, "failsh", {"blueprint.yaml": SCRIPTED, "scripts/fail.sh": FAIL_SH}
    )
    assert execution["status"] == "failed"
    instance = next(iter(stack.instances(execution["deployment_id"])))
    error = execution["error"]
    assert error.startswith(
        f"Task failed: {instance}: cloudify.interfaces.lifecycle.create: ProcessException: "
    ), error
    assert "exit_code: 3" in error and "stderr: disk is full" in error
    assert error.endswith(" (script_runner.tasks.run)"), error
    stderr = [e for e in events if e["message"] == "<err> disk is full"]
    assert [e["level"] for e in stderr] == ["warning"], stderr
