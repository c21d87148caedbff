"""Hosts that would need an agent, with a real API and worker: Quarterdeck installs no agent,
so a workflow that would run an operation on such a host (or install such a Compute) is
refused when it starts, and nothing of it runs; a host without an agent (`install_method:
none`) has its scripts run by the central workers."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.engine.stack import Stack
from tests.support import wait_until

MARK_PY = """\
import os

from cloudify import ctx

ctx.instance.runtime_properties["ran"] = True
ctx.instance.runtime_properties["ran_on"] = os.environ.get("AGENTS_TEST_WORKER", "central")
"""

BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {{install_method: {method}}}
  app:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/mark.py
    relationships:
      - {{type: cloudify.relationships.contained_in, target: vm}}
"""

LONE_HOST = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.Compute
"""


def _deploy(stack: Stack, blueprint: str) -> str:
    name = f"agents-{uuid.uuid4().hex[:6]}"
    stack.upload(name, {"blueprint.yaml": blueprint, "scripts/mark.py": MARK_PY})
    stack.deploy(name, name)
    return name


def _start(stack: Stack, deployment_id: str, workflow: str) -> dict:
    response = stack.client.post(
        "/executions", json={"deployment_id": deployment_id, "workflow_id": workflow}
    )
    return {"status_code": response.status_code, **response.json()}


def _workflow_executions(stack: Stack, deployment_id: str) -> list[dict]:
    items = stack.client.get(
        "/executions", params={"deployment_id": deployment_id, "_size": 100}
    ).json()["items"]
    return [e for e in items if e["workflow_id"] != "create_deployment_environment"]


def test_install_under_a_host_that_needs_an_agent_is_refused_and_nothing_runs(
    stack: Stack,
) -> None:
    name = _deploy(stack, BLUEPRINT.format(method="remote"))
    answer = _start(stack, name, "install")
    assert answer["status_code"] == 400, answer
    assert answer["error_code"] == "agent_not_supported_error"
    message = answer["message"]
    assert "Node `vm`" in message or "Node `app`" in message, message
    assert "agent_config.install_method is `remote`" in message
    assert "install_method to `none`" in message
    # Nothing was stored: no execution, no instance touched, the script never ran.
    assert _workflow_executions(stack, name) == []
    for instance in stack.instances(name).values():
        assert instance["state"] == "uninitialized"
        assert "ran" not in instance["runtime_properties"]


def test_a_compute_that_needs_an_agent_is_named_with_its_install_method(stack: Stack) -> None:
    name = _deploy(stack, LONE_HOST)  # the standard default: install_method remote
    answer = _start(stack, name, "install")
    assert answer["status_code"] == 400, answer
    vm = next(iter(stack.instances(name)))
    assert answer["message"].startswith(
        f"Node `vm` (instance `{vm}`) is a cloudify.nodes.Compute whose "
        "agent_config.install_method is `remote`: Quarterdeck does not install agents."
    ), answer["message"]
    assert _workflow_executions(stack, name) == []


def test_scripts_under_a_host_without_an_agent_run_on_the_central_workers(stack: Stack) -> None:
    name = _deploy(stack, BLUEPRINT.format(method="none"))
    execution = stack.execute(name, "install")
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    app = next(i for i in stack.instances(name).values() if i["node_id"] == "app")
    assert app["runtime_properties"]["ran_on"] == "central"
    assert app["state"] == "started"


def test_scripts_under_a_provided_agent_run_only_on_that_hosts_agent_worker(
    stack: Stack,
) -> None:
    name = _deploy(stack, BLUEPRINT.format(method="provided"))
    by_node = {i["node_id"]: i["id"] for i in stack.instances(name).values()}
    execution = stack.execute(name, "install", wait=False)
    assert execution["status"] not in ("terminated", "failed", "cancelled")
    # The script (executor `auto`) goes to the host's agent queue, which only an agent
    # worker for that host consumes: the operator's `quarterdeck worker --agent`.
    agent_env = {"AGENTS_TEST_WORKER": "agent", "QD_OPERATION_ENV": "AGENTS_TEST_WORKER"}
    stack.start_worker("--agent", by_node["vm"], "--concurrency", "1", env=agent_env)
    execution = stack.wait(execution["id"], timeout=120)
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    app = stack.instances(name)[by_node["app"]]
    assert app["runtime_properties"]["ran_on"] == "agent"


HELD = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  marker_dir: {type: string}
node_templates:
  vm:
    type: cloudify.nodes.Compute
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/hold.sh
          executor: central_deployment_agent
          inputs: {MARKER_DIR: {get_input: marker_dir}}
"""

HOLD_SH = """\
#!/bin/sh
touch "$MARKER_DIR/held"
while [ ! -e "$MARKER_DIR/release" ]; do sleep 0.1; done
"""


def test_a_queued_install_that_needs_an_agent_fails_when_its_turn_comes(
    stack: Stack, tmp_path: Path
) -> None:
    tmp_path.chmod(0o777)  # (the operation user writes its marker here)
    name = f"agents-{uuid.uuid4().hex[:6]}"
    stack.upload(name, {"blueprint.yaml": HELD, "scripts/hold.sh": HOLD_SH})
    stack.deploy(name, name, {"marker_dir": str(tmp_path)})
    # A central operation of the host holds the deployment (allowed: it needs no agent).
    holder = stack.execute(
        name, "execute_operation", wait=False, operation="cloudify.interfaces.lifecycle.create"
    )
    wait_until(lambda: (tmp_path / "held").exists(), 60, what="the holding operation")
    response = stack.client.post(
        "/executions",
        json={"deployment_id": name, "workflow_id": "install", "queue": True},
    )
    assert response.status_code == 201 and response.json()["status"] == "queued", response.text
    (tmp_path / "release").touch()
    assert stack.wait(holder["id"])["status"] == "terminated", stack.logs()
    queued = stack.wait(response.json()["id"])
    assert queued["status"] == "failed"
    assert "agent_config.install_method is `remote`" in queued["error"], queued["error"]
    vm = next(iter(stack.instances(name).values()))
    assert vm["state"] == "uninitialized"
