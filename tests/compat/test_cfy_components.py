"""Issue 13's blueprint features driven by the unmodified `cfy` 7.0.5: a blueprint with no node
templates, a Component that deploys a child blueprint (and `get_capability` of it), a
SharedResource, and a Python script that talks to the manager through `get_rest_client()` and
`ctx.get_tenant()`.

The module starts one `quarterdeck serve` (like test_cfy_groups.py) and is skipped with the
reason when `cloudify==7.0.5` cannot be installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.cfy_harness import Cfy, write_tree

pytestmark = pytest.mark.slow

TYPES = "http://cloudify.co/spec/cloudify/7.0.0/types.yaml"

EMPTY = f"""\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - {TYPES}
inputs:
  city: {{type: string, default: Lisbon}}
outputs:
  greeting:
    description: Says hello to the city.
    value: {{concat: ["hello ", {{get_input: city}}]}}
capabilities:
  city:
    value: {{get_input: city}}
"""

CHILD = f"""\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - {TYPES}
inputs:
  flavour: {{type: string, default: plain}}
node_templates:
  store:
    type: cloudify.nodes.Root
capabilities:
  flavour:
    value: {{get_input: flavour}}
"""

PARENT = f"""\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - {TYPES}
inputs:
  child_blueprint: {{type: string}}
  child_deployment: {{type: string}}
node_templates:
  shop:
    type: cloudify.nodes.Component
    properties:
      resource_config:
        blueprint:
          id: {{get_input: child_blueprint}}
          external_resource: true
        deployment:
          id: {{get_input: child_deployment}}
          inputs: {{flavour: mint}}
outputs:
  child_flavour:
    value: {{get_capability: [{{get_input: child_deployment}}, flavour]}}
"""

# The consumer joins a shared deployment and runs a script that asks the manager about itself.
CONSUMER = f"""\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - {TYPES}
inputs:
  shared: {{type: string}}
node_templates:
  network:
    type: cloudify.nodes.SharedResource
    properties:
      resource_config:
        deployment:
          id: {{get_input: shared}}
  probe:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/probe.py
    relationships:
      - {{type: cloudify.relationships.depends_on, target: network}}
outputs:
  shared_flavour:
    value: {{get_attribute: [network, capabilities, flavour]}}
  seen:
    value: {{get_attribute: [probe, seen]}}
"""

PROBE = """\
from cloudify import ctx
from cloudify.manager import get_rest_client

client = get_rest_client()
deployment = client.deployments.get(ctx.deployment.id)
ctx.instance.runtime_properties["seen"] = "{} {} {}".format(
    ctx.get_tenant()["name"], deployment.blueprint_id, len(client.deployments.list())
)
"""


def _installed(cfy: Cfy, deployment: str, workflow: str = "install") -> None:
    done = cfy.run("executions", "start", workflow, "-d", deployment)
    assert f"Finished executing workflow {workflow} on deployment {deployment}" in done.output, done


def test_a_blueprint_without_nodes(cfy: Cfy, tmp_path: Path) -> None:
    source = write_tree(tmp_path / "empty", {"blueprint.yaml": EMPTY})
    cfy.run("blueprints", "upload", "-b", "empty", str(source / "blueprint.yaml"))
    cfy.run("deployments", "create", "quiet", "-b", "empty", "-i", "city=Porto")
    _installed(cfy, "quiet")
    outputs = cfy.run("deployments", "outputs", "quiet")
    for expected in ('"greeting":', "Description: Says hello to the city.", "Value: hello Porto"):
        assert expected in outputs.output, outputs
    capabilities = cfy.run("deployments", "capabilities", "quiet")
    assert '"city":' in capabilities.output and "Value: Porto" in capabilities.output, capabilities
    _installed(cfy, "quiet", "uninstall")
    (execution,) = [
        e for e in cfy.json("executions", "list", "-d", "quiet") if e["workflow_id"] == "uninstall"
    ]
    # The CLI shows the execution's display status: "completed" for "terminated".
    assert execution["status"] == "completed", execution
    assert "Deployment deleted" in cfy.run("deployments", "delete", "quiet").output


def test_a_component_deploys_its_child_and_removes_it(cfy: Cfy, tmp_path: Path) -> None:
    child = write_tree(tmp_path / "child", {"blueprint.yaml": CHILD})
    parent = write_tree(tmp_path / "parent", {"blueprint.yaml": PARENT})
    cfy.run("blueprints", "upload", "-b", "store", str(child / "blueprint.yaml"))
    cfy.run("blueprints", "upload", "-b", "mall", str(parent / "blueprint.yaml"))
    cfy.run(
        "deployments", "create", "mall", "-b", "mall",
        "-i", "child_blueprint=store", "-i", "child_deployment=mall-store",
    )  # fmt: skip
    _installed(cfy, "mall")
    listed = {d["id"]: d for d in cfy.json("deployments", "list")}
    assert listed["mall-store"]["blueprint_id"] == "store", listed
    outputs = cfy.run("deployments", "outputs", "mall")
    assert "Value: mint" in outputs.output, outputs

    refused = cfy.run("deployments", "delete", "mall-store", rc=1)
    assert "mall" in refused.output and "depend" in refused.output.lower(), refused

    _installed(cfy, "mall", "uninstall")
    assert "mall-store" not in {d["id"] for d in cfy.json("deployments", "list")}
    assert "Deployment deleted" in cfy.run("deployments", "delete", "mall").output


def test_a_shared_resource_and_a_script_that_uses_the_rest_client(cfy: Cfy, tmp_path: Path) -> None:
    child = write_tree(tmp_path / "shared", {"blueprint.yaml": CHILD})
    consumer = write_tree(
        tmp_path / "consumer", {"blueprint.yaml": CONSUMER, "scripts/probe.py": PROBE}
    )
    cfy.run("blueprints", "upload", "-b", "net", str(child / "blueprint.yaml"))
    cfy.run("deployments", "create", "net", "-b", "net", "-i", "flavour=lemon")
    _installed(cfy, "net")
    cfy.run("blueprints", "upload", "-b", "user", str(consumer / "blueprint.yaml"))
    cfy.run("deployments", "create", "user", "-b", "user", "-i", "shared=net")
    _installed(cfy, "user")
    outputs = cfy.run("deployments", "outputs", "user")
    assert "Value: lemon" in outputs.output, outputs
    count = len(cfy.json("deployments", "list"))
    assert f"Value: default_tenant user {count}" in outputs.output, outputs

    # The shared deployment stays while a consumer is connected to it.
    refused = cfy.run("deployments", "delete", "net", rc=1)
    assert "user" in refused.output, refused
    _installed(cfy, "user", "uninstall")
    assert "Deployment deleted" in cfy.run("deployments", "delete", "user").output
    _installed(cfy, "net", "uninstall")
    assert "Deployment deleted" in cfy.run("deployments", "delete", "net").output
