"""Deployments of other deployments through real workers and the real API: blueprints with no
node templates, `cloudify.nodes.Component`, `SharedResource`, `PasswordSecret`, and what a
Python script can reach (`ctx.get_tenant()`, `get_rest_client()`, `requests`)."""

from __future__ import annotations

import uuid

from tests.engine.stack import Stack

EMPTY = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  name: {type: string, default: nobody}
outputs:
  greeting:
    value: {concat: ["hello ", {get_input: name}]}
capabilities:
  name:
    value: {get_input: name}
labels:
  kind:
    values: [empty]
"""


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_a_deployment_without_nodes_installs_and_uninstalls(stack: Stack) -> None:
    name = _id("empty")
    stack.upload(name, {"blueprint.yaml": EMPTY})
    stack.deploy(name, name, {"name": "world"})
    for workflow in ("install", "uninstall"):
        execution = stack.execute(name, workflow)
        assert execution["status"] == "terminated", execution["error"] + stack.logs()


CHILD = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  colour: {type: string, default: grey}
node_templates:
  thing:
    type: cloudify.nodes.Root
capabilities:
  colour:
    value: {get_input: colour}
"""

# A child whose install runs an operation on a worker, while its component waits on another.
WORKING_CHILD = CHILD.replace(
    "    type: cloudify.nodes.Root\n",
    "    type: cloudify.nodes.Root\n"
    "    interfaces:\n"
    "      cloudify.interfaces.lifecycle:\n"
    "        create: scripts/hello.py\n",
)
HELLO = """
from cloudify import ctx

ctx.instance.runtime_properties["hello"] = ctx.deployment.id
"""

PARENT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  child_blueprint: {type: string}
  child_deployment: {type: string}
  packed_deployment: {type: string}
node_templates:
  by_id:
    type: cloudify.nodes.Component
    properties:
      resource_config:
        blueprint:
          id: {get_input: child_blueprint}
          external_resource: true
        deployment:
          id: {get_input: child_deployment}
          inputs: {colour: blue}
  packed:
    type: cloudify.nodes.ServiceComponent
    properties:
      resource_config:
        blueprint:
          id: {get_input: packed_deployment}
          blueprint_archive: children/child.yaml
          main_file_name: child.yaml
        deployment:
          id: {get_input: packed_deployment}
          inputs: {colour: green}
    relationships:
      - {type: cloudify.relationships.depends_on, target: by_id}
outputs:
  by_id_colour:
    value: {get_capability: [{get_input: child_deployment}, colour]}
  packed_colour:
    value: {get_attribute: [packed, capabilities, colour]}
"""


def test_components_deploy_children_and_remove_them_on_uninstall(stack: Stack) -> None:
    child_blueprint = _id("child")
    stack.upload(child_blueprint, {"blueprint.yaml": WORKING_CHILD, "scripts/hello.py": HELLO})
    parent = _id("parent")
    child, packed = f"{parent}-child", f"{parent}-packed"
    stack.upload(parent, {"blueprint.yaml": PARENT, "children/child.yaml": CHILD})
    stack.deploy(
        parent,
        parent,
        {
            "child_blueprint": child_blueprint,
            "child_deployment": child,
            "packed_deployment": packed,
        },
    )

    execution = stack.execute(parent, "install")
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    instances = {i["node_id"]: i for i in stack.instances(parent).values()}
    assert instances["by_id"]["runtime_properties"]["capabilities"] == {"colour": "blue"}
    assert instances["by_id"]["runtime_properties"]["deployment"] == {"id": child}
    assert instances["packed"]["runtime_properties"]["capabilities"] == {"colour": "green"}
    # The blueprint packed in the parent's archive was uploaded under the given id.
    assert stack.client.get(f"/blueprints/{packed}").json()["state"] == "uploaded"
    for deployment_id in (child, packed):
        labels = stack.client.get(f"/deployments/{deployment_id}").json()["labels"]
        assert {"key": "csys-obj-parent", "value": parent} in [
            {"key": label["key"], "value": label["value"]} for label in labels
        ]
        child_instances = stack.instances(deployment_id).values()
        assert {i["state"] for i in child_instances} == {"started"}
    (thing,) = stack.instances(child).values()
    assert thing["runtime_properties"] == {"hello": child}
    outputs = stack.client.get(f"/deployments/{parent}/outputs").json()["outputs"]
    assert outputs == {"by_id_colour": "blue", "packed_colour": "green"}

    # A child cannot go before the component that made it; nor can the parent, live.
    refused = stack.client.delete(f"/deployments/{child}")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_code"] == "dependent_exists_error"
    assert f"{parent}.{instances['by_id']['id']}" in refused.json()["message"]
    assert stack.client.delete(f"/deployments/{parent}").status_code == 400

    execution = stack.execute(parent, "uninstall")
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    for deployment_id in (child, packed):
        assert stack.client.get(f"/deployments/{deployment_id}").status_code == 404
    # The packed blueprint was the component's own; the external one stays.
    assert stack.client.get(f"/blueprints/{packed}").status_code == 404
    assert stack.client.get(f"/blueprints/{child_blueprint}").status_code == 200
    assert stack.client.delete(f"/deployments/{parent}").status_code == 204


CONSUMER = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  shared: {type: string}
node_templates:
  network:
    type: cloudify.nodes.SharedResource
    properties:
      resource_config:
        deployment:
          id: {get_input: shared}
  password:
    type: cloudify.nodes.PasswordSecret
    properties:
      length: 16
      uppercase: 2
      digits: 2
      symbols: -1
outputs:
  shared_colour:
    value: {get_attribute: [network, capabilities, colour]}
  secret_name:
    value: {get_attribute: [password, secret_name]}
"""


def test_a_shared_resource_connects_and_a_password_secret_stays_secret(stack: Stack) -> None:
    shared = _id("shared")
    stack.upload(shared, {"blueprint.yaml": CHILD})
    stack.deploy(shared, shared, {"colour": "red"})
    consumer = _id("consumer")
    stack.upload(consumer, {"blueprint.yaml": CONSUMER})
    stack.deploy(consumer, consumer, {"shared": shared})

    execution = stack.execute(consumer, "install")
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    outputs = stack.client.get(f"/deployments/{consumer}/outputs").json()["outputs"]
    assert outputs["shared_colour"] == "red"
    instances = {i["node_id"]: i for i in stack.instances(consumer).values()}
    secret_name = outputs["secret_name"]
    assert secret_name == f"ps_{consumer}_{instances['password']['id']}"
    assert instances["password"]["runtime_properties"]["password"] == {"get_secret": secret_name}
    value = stack.client.get(f"/secrets/{secret_name}").json()["value"]
    assert len(value) == 16
    assert sum(c.isupper() for c in value) >= 2 and sum(c.isdigit() for c in value) >= 2
    assert all(c.isalnum() for c in value)  # symbols: -1 leaves them out
    texts = [str(event) for event in stack.events(execution["id"])]
    assert texts and not [t for t in texts if value in t]

    # The shared deployment stays while its consumer is connected.
    refused = stack.client.delete(f"/deployments/{shared}")
    assert refused.status_code == 400 and consumer in refused.json()["message"], refused.text

    execution = stack.execute(consumer, "uninstall")
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    assert stack.client.get(f"/secrets/{secret_name}").status_code == 404
    assert stack.client.get(f"/deployments/{shared}").status_code == 200
    assert stack.client.delete(f"/deployments/{consumer}").status_code == 204
    assert stack.client.delete(f"/deployments/{shared}").status_code == 204


def test_a_missing_shared_deployment_fails_the_install_by_name(stack: Stack) -> None:
    consumer = _id("lonely")
    stack.upload(consumer, {"blueprint.yaml": CONSUMER})
    stack.deploy(consumer, consumer, {"shared": "no-such-deployment"})
    execution = stack.execute(consumer, "install")
    assert execution["status"] == "failed"
    assert 'deployment ID "no-such-deployment" does not exist' in execution["error"]


SCRIPT_BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  probe:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/probe.py
  host:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {install_method: none}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/agent.py
"""

AGENT = """
from cloudify import ctx

ctx.instance.runtime_properties["init_script"] = ctx.agent.init_script()
"""

PROBE = """
import requests
from cloudify import ctx
from cloudify.manager import get_rest_client

client = get_rest_client()
deployment = client.deployments.get(ctx.deployment.id)
tenant = ctx.get_tenant()
managers = ctx.get_managers()
props = ctx.instance.runtime_properties
props["deployment_id"] = deployment.id
props["blueprint_id"] = deployment.blueprint_id
props["tenant"] = tenant["name"]
props["managers"] = len(managers)
props["manager_has_hostname"] = bool(managers[0].hostname)
props["brokers"] = len(ctx.get_brokers())
props["requests"] = requests.__name__
props["rest_port"] = ctx.rest_port
props["creator"] = ctx.execution_creator_username
props["provider_context"] = ctx.provider_context
try:
    ctx.agent
except Exception as exc:
    props["agent"] = type(exc).__name__
"""


def test_a_python_script_reaches_the_manager_like_a_cloudify_script(stack: Stack) -> None:
    name = _id("probe")
    files = {
        "blueprint.yaml": SCRIPT_BLUEPRINT,
        "scripts/probe.py": PROBE,
        "scripts/agent.py": AGENT,
    }
    stack.upload(name, files)
    stack.deploy(name, name)
    execution = stack.execute(name, "install")
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    instances = {i["node_id"]: i for i in stack.instances(name).values()}
    assert instances["host"]["runtime_properties"] == {"init_script": None}
    props = instances["probe"]["runtime_properties"]
    assert props == {
        "deployment_id": name,
        "blueprint_id": name,
        "tenant": "default_tenant",
        "managers": 1,
        "manager_has_hostname": True,
        "brokers": props["brokers"],
        "requests": "requests",
        "rest_port": stack.port,
        "creator": "admin",
        "provider_context": {"cloudify": {}},
        "agent": "NonRecoverableError",
    }


SHARED = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  thing:
    type: cloudify.nodes.Root
    interfaces:
      maintenance:
        mark: scripts/mark.py
"""

MARK = """
from cloudify import ctx

props = ctx.instance.runtime_properties
props["marks"] = props.get("marks", 0) + 1
"""

USING = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  shared: {type: string}
node_templates:
  network:
    type: cloudify.nodes.SharedResource
    properties:
      resource_config:
        deployment:
          id: {get_input: shared}
  app:
    type: cloudify.nodes.Root
    relationships:
      - type: cloudify.relationships.depends_on_shared_resource
        target: network
        target_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish:
              inputs:
                workflow_id: execute_operation
                parameters: {operation: maintenance.mark}
                timeout: 120
            unlink:
              inputs:
                workflow_id: execute_operation
                parameters: {operation: maintenance.mark}
                timeout: 120
"""


def test_shared_resource_relationships_run_workflows_on_the_shared_deployment(
    stack: Stack,
) -> None:
    shared = _id("marked")
    stack.upload(shared, {"blueprint.yaml": SHARED, "scripts/mark.py": MARK})
    stack.deploy(shared, shared)
    assert stack.execute(shared, "install")["status"] == "terminated"
    user = _id("user")
    stack.upload(user, {"blueprint.yaml": USING})
    stack.deploy(user, user, {"shared": shared})

    def marks() -> int:
        (thing,) = stack.instances(shared).values()
        return int(thing["runtime_properties"].get("marks", 0))

    execution = stack.execute(user, "install")
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    assert marks() == 1
    execution = stack.execute(user, "uninstall")
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    assert marks() == 2
