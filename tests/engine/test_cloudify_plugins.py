"""Uploaded plugins through real processes: wagons uploaded like `cfy plugins upload`, fetched
by a worker from the API and installed into their venv (or failing to, recorded on the plugin).
Unmodified Cloudify plugins (written with `from cloudify import ctx`, bundling cloudify-common
7.0.5) run through `cloudify.dispatch` and call the API back with their execution token:
nodes, node instances, secrets, the file server, events."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_plugins import cfy_zip, wagon
from tests.compat.reference_env import ReferenceUnavailable
from tests.engine.stack import Stack
from tests.workers.cloudify_plugin import PACKAGE, PLUGIN_YAML, VERSION, build_cloudify_wagon
from tests.workers.conftest import build_wheel

SECRET = "qd-cfy-secret"

SERVERS = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
  - plugin:qdcfyplugin
inputs:
  owner: {default: ops-team}
resource_tags:
  owner: {get_input: owner}
  deployment: {get_sys: [deployment, id]}
  cost-centre: 42
node_templates:
  server:
    type: qdcfy.Server
    properties: {port: 8443}
  client:
    type: qdcfy.Server
    properties: {port: 9000}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          inputs: {greeting: hi}
    relationships:
      - {type: qdcfy.connected_to, target: server}
"""

SCRIPTED = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
  - plugin:qdcfyplugin
node_templates:
  scripted:
    type: qdcfy.Scripted
"""

CREATE_SH = """\
#!/bin/bash
set -e
ctx logger info "bash here on $(ctx instance id)"
ctx instance runtime-properties greeting "$GREETING"
ctx instance runtime-properties port_seen "$(ctx node properties port)"
ctx instance runtime-properties nested.value '@{"n": 5}'
ctx instance runtime-properties echoed "$(ctx instance runtime-properties greeting)"
echo "printed to stdout"
"""


SDK_PLUGINS_YAML = """
plugins:
  qdtest:
    executor: central_deployment_agent
    package_name: qdtestplugin
    package_version: '1.0.0'
  broken:
    executor: central_deployment_agent
    package_name: qdbroken
    package_version: '1.0.0'
node_types:
  qdtest.Thing:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: qdtest.qdtestplugin.tasks.set_props
          inputs:
            source: {default: uploaded wagon}
  qdtest.Broken:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: broken.qdbroken.tasks.anything
"""

SDK_BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
  - plugin:qdtestplugin
node_templates:
  thing:
    type: %s
"""


def _upload_plugin(stack: Stack, package: bytes, name: str, plugin_yaml: str) -> dict[str, Any]:
    """A plugin uploaded as `cfy plugins upload <wagon> -y plugin.yaml` sends it."""
    body = cfy_zip({name: package, "plugin.yaml": plugin_yaml})
    response = stack.client.post(
        "/plugins",
        params={"visibility": "tenant"},
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def sdk_plugins(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """qdtestplugin (written with the Quarterdeck SDK) and qdbroken (whose dependency exists
    nowhere), uploaded as wagons; qdtestplugin's upload carries the YAML of both."""
    out, scratch = tmp_path_factory.mktemp("wheels"), tmp_path_factory.mktemp("src")
    wheels = {n: build_wheel(n, out, scratch) for n in ("qdtestplugin", "qddep", "qdbroken")}
    good = wagon("qdtestplugin", "1.0.0", [wheels["qdtestplugin"], wheels["qddep"]])
    broken = wagon("qdbroken", "1.0.0", [wheels["qdbroken"]])
    return {
        "good": _upload_plugin(stack, good, "qdtestplugin.wgn", SDK_PLUGINS_YAML),
        "broken": _upload_plugin(stack, broken, "qdbroken.wgn", "plugins: {}\n"),
    }


def test_uploaded_sdk_plugin_is_fetched_installed_and_run(
    stack: Stack, sdk_plugins: dict[str, dict]
) -> None:
    name = f"sdk-{uuid.uuid4().hex[:6]}"
    stack.upload(name, {"blueprint.yaml": SDK_BLUEPRINT % "qdtest.Thing"})
    stack.deploy(name, name)
    execution = stack.execute(name, "install", wait=False)
    execution = stack.wait(execution["id"], timeout=120)
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    (instance,) = stack.instances(name).values()
    assert instance["runtime_properties"] == {"source": "uploaded wagon"}
    recorded = stack.client.get(f"/plugins/{sdk_plugins['good']['id']}").json()
    assert [s["state"] for s in recorded["installation_state"]] == ["installed"], recorded
    cached = list((stack.root / "data" / "work" / "plugin-archives").glob("*/*.wgn"))
    assert [p.parent.name for p in cached] == [sdk_plugins["good"]["id"]]


def test_install_failure_fails_the_operation_and_is_recorded(
    stack: Stack, sdk_plugins: dict[str, dict]
) -> None:
    name = f"broken-{uuid.uuid4().hex[:6]}"
    stack.upload(name, {"blueprint.yaml": SDK_BLUEPRINT % "qdtest.Broken"})
    stack.deploy(name, name)
    execution = stack.execute(name, "install", wait=False)
    execution = stack.wait(execution["id"], timeout=120)
    assert execution["status"] == "failed", execution
    assert "Installing the plugin failed" in execution["error"], execution["error"]
    assert "qd-missing-dependency" in execution["error"], execution["error"]
    recorded = stack.client.get(f"/plugins/{sdk_plugins['broken']['id']}").json()
    assert [s["state"] for s in recorded["installation_state"]] == ["error"], recorded
    assert "qd-missing-dependency" in recorded["installation_error"]


@pytest.fixture(scope="module")
def cloudify_wagon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build_cloudify_wagon(tmp_path_factory.mktemp("cfy-plugin"))
    except ReferenceUnavailable as exc:
        pytest.skip(f"cloudify-common 7.0.5 wheels are not available (no PyPI?): {exc}")


@pytest.fixture(scope="module")
def plugin(stack: Stack, cloudify_wagon: Path) -> dict[str, Any]:
    uploaded = _upload_plugin(stack, cloudify_wagon.read_bytes(), cloudify_wagon.name, PLUGIN_YAML)
    secret = stack.client.put(f"/secrets/{SECRET}", json={"value": "s3cret"})
    assert secret.status_code in (200, 201), secret.text
    return uploaded


def _by_node(stack: Stack, deployment: str) -> dict[str, dict[str, Any]]:
    return {i["node_id"]: i for i in stack.instances(deployment).values()}


def test_plugin_install_and_uninstall(stack: Stack, plugin: dict[str, Any]) -> None:
    name = f"cfy-{uuid.uuid4().hex[:6]}"
    stack.upload(name, {"blueprint.yaml": SERVERS, "files/hello.txt": "hello from the blueprint\n"})
    stack.deploy(name, name)

    execution = stack.execute(name, "install", wait=False)
    execution = stack.wait(execution["id"], timeout=240)
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    instances = _by_node(stack, name)
    server, client = instances["server"], instances["client"]
    assert {i["state"] for i in instances.values()} == {"started"}
    props = server["runtime_properties"]
    assert props["port"] == 8443
    assert props["greeting"] == "hello"
    assert props["resource"] == "hello from the blueprint"
    assert props["secret"] == "s3cret"
    assert props["plugin"] == ["qdcfy", PACKAGE, VERSION]
    assert props["configured_at_retry"] == 1
    assert (props["execution_status"], props["operation_state"]) == ("started", "started")
    assert props["tenant"] == "default_tenant"
    # `ctx.deployment.resource_tags`: evaluated for the operation, kept as written on the
    # deployment (as Cloudify does).
    assert props["resource_tags"] == {"owner": "ops-team", "deployment": name, "cost-centre": 42}
    assert stack.client.get(f"/deployments/{name}").json()["resource_tags"] == {
        "owner": {"get_input": "owner"},
        "deployment": {"get_sys": ["deployment", "id"]},
        "cost-centre": 42,
    }
    # The relationship operation read the target's runtime property, wrote the source's.
    assert client["runtime_properties"]["greeting"] == "hi"
    assert client["runtime_properties"]["peer_port"] == 8443
    assert client["runtime_properties"]["peer"] == server["id"]

    events = stack.events(execution["id"])
    logs = [e for e in events if e["type"] == "cloudify_log"]
    creating = [e for e in logs if e["message"] == f"creating {server['id']} on port 8443"]
    assert creating, [e["message"] for e in logs]
    assert creating[0]["level"] == "info"
    assert creating[0]["node_instance_id"] == server["id"]
    assert creating[0]["node_name"] == "server"
    assert creating[0]["operation"] == "cloudify.interfaces.lifecycle.create"
    assert creating[0]["deployment_id"] == name
    connecting = [e for e in logs if e["message"].startswith("connecting ")]
    assert len(connecting) == 1, connecting
    assert (connecting[0]["source_id"], connecting[0]["target_id"]) == (client["id"], server["id"])
    plugin_events = [e for e in events if e.get("event_type") == "plugin_event"]
    assert {e["message"] for e in plugin_events} == {
        f"created {server['id']}",
        f"created {client['id']}",
    }
    rescheduled = [e for e in events if e.get("event_type") == "task_rescheduled"]
    assert len(rescheduled) == 2, rescheduled
    assert all("not configured yet" in e["message"] for e in rescheduled)
    # Everything the plugin logged was stored before the execution ended.
    assert events[-1].get("event_type") == "workflow_succeeded"

    recorded = stack.client.get(f"/plugins/{plugin['id']}").json()
    assert {s["state"] for s in recorded["installation_state"]} == {"installed"}, recorded

    execution = stack.execute(name, "uninstall", wait=False)
    execution = stack.wait(execution["id"], timeout=120)
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    assert {i["state"] for i in stack.instances(name).values()} == {"deleted"}
    messages = [e["message"] for e in stack.events(execution["id"])]
    assert f"deleting {server['id']}" in messages and f"deleting {client['id']}" in messages


def test_cloudify_script_runner_from_the_plugin_venv(stack: Stack, plugin: dict[str, Any]) -> None:
    """`script_runner.tasks.run` mapped by the plugin runs cloudify-common's own script
    runner: the script comes from the file server, its `ctx` calls go to the ctx proxy."""
    name = f"cfy-script-{uuid.uuid4().hex[:6]}"
    stack.upload(name, {"blueprint.yaml": SCRIPTED, "scripts/create.sh": CREATE_SH})
    stack.deploy(name, name)
    execution = stack.execute(name, "install", wait=False)
    execution = stack.wait(execution["id"], timeout=240)
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    (instance,) = stack.instances(name).values()
    props = instance["runtime_properties"]
    assert props["greeting"] == "from-bash"
    assert props["port_seen"] == "7070"
    assert props["nested"] == {"value": {"n": 5}}
    assert props["echoed"] == "from-bash"
    messages = [e["message"] for e in stack.events(execution["id"])]
    assert f"bash here on {instance['id']}" in messages, messages
    assert any("printed to stdout" in m for m in messages), messages
    assert any(m.startswith("Task succeeded 'script_runner.tasks.run'") for m in messages)
