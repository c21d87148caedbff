"""cloudify-aws-plugin 3.1.7, unmodified, through a whole install and uninstall (issue 14).

The wagon is packed from the plugin's sdist as docs/plugin-guide.md says, uploaded with the
real `cfy` 7.0.5 together with two plugin YAML variants, and run against moto's AWS server on
127.0.0.1. The plugin takes no endpoint from `client_config`, so the worker's environment
carries `AWS_ENDPOINT_URL` (and fake credentials), and `QD_OPERATION_ENV=AWS_*` lets them
through to operations wherever operation environments are filtered. What the plugin needs
from the manager: `ctx.deployment.resource_tags` (it tags every resource with them), an
execution token that may start an `execute_operation` execution (`Instances.poststart`) and
list, create and delete secrets (a key pair with `create_secret`), `OperationRetry`, and
runtime properties read back by `get_attribute`.

Slow: the first run builds the wagon (a few minutes); later runs take it from the cache.
Skipped, with the reason printed, only when the package index cannot be reached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import wait_until

from .aws_env import PLUGIN, PLUGIN_VERSION, Moto, aws_wagon, moto_server, tools_bin
from .cfy_harness import PASSWORD, Cfy, Server, start_server, write_tree
from .reference_env import ReferenceUnavailable

# Minutes on a quiet machine (a 78-wheel venv, a real install and uninstall); far more under load.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

HERE = Path(__file__).parent / "aws_plugin"
REGION = "us-east-1"
INSTALL_TIMEOUT = 900
# Fake credentials for moto; never real ones.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}

BLUEPRINT = f"""
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
  - plugin:{PLUGIN}
inputs:
  image_id: {{type: string}}
  key_secret: {{type: string}}
  team: {{default: platform}}
resource_tags:
  team: {{get_input: team}}
dsl_definitions:
  client_config: &client_config
    aws_access_key_id: testing
    aws_secret_access_key: testing
    region_name: {REGION}
node_templates:
  vpc:
    type: cloudify.nodes.aws.ec2.Vpc
    properties:
      client_config: *client_config
      resource_config: {{CidrBlock: 10.10.0.0/16}}
      Tags: [{{Key: Name, Value: qd-vpc}}]
  subnet:
    type: cloudify.nodes.aws.ec2.Subnet
    properties:
      client_config: *client_config
      resource_config: {{CidrBlock: 10.10.1.0/24, AvailabilityZone: {REGION}a}}
    relationships:
      - {{type: cloudify.relationships.depends_on, target: vpc}}
  security_group:
    type: cloudify.nodes.aws.ec2.SecurityGroup
    properties:
      client_config: *client_config
      resource_config:
        GroupName: qd-ssh
        Description: ssh from anywhere
        VpcId: {{get_attribute: [vpc, aws_resource_id]}}
    relationships:
      - {{type: cloudify.relationships.depends_on, target: vpc}}
  security_group_rules:
    type: cloudify.nodes.aws.ec2.SecurityGroupRuleIngress
    properties:
      client_config: *client_config
      resource_config:
        IpPermissions:
          - {{IpProtocol: tcp, FromPort: 22, ToPort: 22, IpRanges: [{{CidrIp: 0.0.0.0/0}}]}}
    relationships:
      - {{type: cloudify.relationships.contained_in, target: security_group}}
  key:
    type: cloudify.nodes.aws.ec2.Keypair
    properties:
      client_config: *client_config
      create_secret: true
      secret_name: {{get_input: key_secret}}
      resource_config: {{KeyName: qd-key}}
  host:
    type: cloudify.nodes.aws.ec2.Instances
    properties:
      client_config: *client_config
      agent_config: {{install_method: none}}
      resource_config:
        MaxCount: 1
        MinCount: 1
        ImageId: {{get_input: image_id}}
        InstanceType: t2.micro
        kwargs: {{KeyName: qd-key}}
    relationships:
      - {{type: cloudify.relationships.depends_on, target: key}}
      - {{type: cloudify.relationships.depends_on, target: subnet}}
      - {{type: cloudify.relationships.depends_on, target: security_group}}
  ip:
    type: cloudify.nodes.aws.ec2.ElasticIP
    properties:
      client_config: *client_config
      resource_config: {{kwargs: {{Domain: vpc}}}}
    interfaces:
      cloudify.interfaces.lifecycle:
        # 3.1.7 finds the instance to attach to by relationship only for the deprecated
        # `cloudify.aws.nodes.Instance` type; it reads an `InstanceId` given here first.
        start:
          inputs:
            resource_config: {{InstanceId: {{get_attribute: [host, aws_resource_id]}}}}
    relationships:
      - {{type: cloudify.relationships.depends_on, target: host}}
outputs:
  host_id: {{value: {{get_attribute: [host, aws_resource_id]}}}}
  public_ip: {{value: {{get_attribute: [ip, aws_resource_id]}}}}
  vpc_id: {{value: {{get_attribute: [vpc, aws_resource_id]}}}}
"""


@pytest.fixture(scope="module")
def tools() -> Path:
    try:
        return tools_bin()
    except ReferenceUnavailable as exc:
        reason = f"the package index cannot be reached (wagon, moto, boto3 not installable): {exc}"
        print(reason, file=sys.stderr)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def moto(tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    with moto_server(tools, tmp_path_factory.mktemp("moto") / "moto.log") as running:
        yield running


@pytest.fixture(scope="module")
def server(cfy_bin: Path, moto: Moto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The worker's environment, as an operator sets it; QD_OPERATION_ENV names what may
    # reach operations where operation environments are filtered.
    env = {**AWS_ENV, "AWS_ENDPOINT_URL": moto.url, "QD_OPERATION_ENV": "AWS_*"}
    running = start_server(
        tmp_path_factory.mktemp("serve"), env, task_retries="30", task_retry_interval="1"
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cfy(cfy_bin: Path, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Cfy:
    cli = Cfy(cfy_bin, tmp_path_factory.mktemp("home"))
    cli.run(
        "profiles", "use", "127.0.0.1", "-u", "admin", "-p", PASSWORD,
        "-t", "default_tenant", "--rest-port", str(server.port),
    )  # fmt: skip
    return cli


def ec2(tools: Path, moto: Moto) -> dict[str, Any]:
    """What moto holds, read with boto3 from the tools venv."""
    done = subprocess.run(
        [str(tools / "python"), str(HERE / "inspect_ec2.py")],
        env={**os.environ, **AWS_ENV, "AWS_ENDPOINT_URL": moto.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def upload_plugin(cfy: Cfy, server: Server, tools: Path, directory: Path) -> dict[str, Any]:
    """`cfy plugins upload <wagon> -y plugin.yaml -y plugin_1_4.yaml`, as a user sends the
    variants: the server picks plugin_1_4.yaml for a cloudify_dsl_1_4 blueprint. The plain
    plugin.yaml here lacks the plugin's resource_tags, so the tags on the resources show
    which one the blueprint got."""
    wagon = aws_wagon(tools)
    variant = (HERE / "plugin_1_4.yaml").read_text()
    plain = yaml.safe_load(variant)
    del plain["resource_tags"], plain["dsl_definitions"]
    write_tree(
        directory,
        {"plugin_1_4.yaml": variant, "plugin.yaml": yaml.safe_dump(plain, sort_keys=False)},
    )
    cfy.run(
        "plugins", "upload", str(wagon),
        "-y", str(directory / "plugin.yaml"), "-y", str(directory / "plugin_1_4.yaml"),
        timeout=600,
    )  # fmt: skip
    with server.api() as api:
        (plugin,) = api.get("/plugins", params={"package_name": PLUGIN}).json()["items"]
        assert plugin["package_version"] == PLUGIN_VERSION
        assert sorted(plugin["yaml_files_paths"]) == ["plugin.yaml", "plugin_1_4.yaml"], plugin
        chosen = api.get(f"/plugins/{plugin['id']}/yaml", params={"dsl_version": "1_4"})
    assert "resource_tags" in yaml.safe_load(chosen.text)
    return dict(plugin)


def wait_for_executions(server: Server, deployment: str) -> list[dict[str, Any]]:
    """The deployment's executions once none is active (the plugin starts one of its own)."""
    found: list[dict[str, Any]] = []

    def settled() -> bool:
        with server.api() as api:
            response = api.get("/executions", params={"deployment_id": deployment, "_size": 100})
        found[:] = response.json()["items"]
        return all(e["status"] in ("terminated", "failed", "cancelled") for e in found)

    wait_until(settled, INSTALL_TIMEOUT, interval=1)
    return found


def node_instances(server: Server, deployment: str) -> list[dict[str, Any]]:
    with server.api() as api:
        response = api.get("/node-instances", params={"deployment_id": deployment})
    return list(response.json()["items"])


def test_install_and_uninstall_against_moto(
    cfy: Cfy, server: Server, moto: Moto, tools: Path, tmp_path: Path
) -> None:
    upload_plugin(cfy, server, tools, tmp_path / "plugin")
    deployment, secret = f"aws-{uuid.uuid4().hex[:6]}", f"qd-key-{uuid.uuid4().hex[:6]}"
    write_tree(tmp_path / "bp", {"blueprint.yaml": BLUEPRINT})
    cfy.run("blueprints", "upload", str(tmp_path / "bp" / "blueprint.yaml"), "-b", deployment)
    image = ec2(tools, moto)["image"]
    cfy.run(
        "deployments", "create", deployment, "-b", deployment,
        "-i", f"image_id={image}", "-i", f"key_secret={secret}",
    )  # fmt: skip

    # GET /deployments/<id>: the plan's tags as written, the plugin's default ones included.
    with server.api() as api:
        shown = api.get(f"/deployments/{deployment}").json()
    assert shown["resource_tags"] == {
        "team": {"get_input": "team"},
        "tenant": {"get_sys": ["tenant", "name"]},
        "deployment_id": {"get_sys": ["deployment", "id"]},
        "owner": {"get_sys": ["deployment", "owner"]},
    }

    install = cfy.run(
        "executions", "start", "install", "-d", deployment, "--timeout", str(INSTALL_TIMEOUT),
        rc=None, timeout=INSTALL_TIMEOUT + 60,
    )  # fmt: skip
    executions = wait_for_executions(server, deployment)
    assert install.rc == 0, f"{install}\n{server.logs()}"
    by_workflow = {e["workflow_id"]: e for e in executions}
    assert by_workflow["install"]["status"] == "terminated", by_workflow
    # Instances.poststart started an `execute_operation` through the REST client with its
    # execution token: the new execution belongs to the install's creator.
    post = by_workflow["execute_operation"]
    assert (post["status"], post["created_by"]) == ("terminated", "admin"), post
    assert post["parameters"]["operation"] == "cloudify.interfaces.lifecycle.poststart"
    with server.api() as api:
        events = api.get(
            "/events", params={"execution_id": by_workflow["install"]["id"], "_size": 1000}
        ).json()["items"]
    # Instances.start waits for the instance with OperationRetry; its logs reach the events.
    rescheduled = [e for e in events if e.get("event_type") == "task_rescheduled"]
    assert any(
        (e.get("node_name"), e.get("operation")) == ("host", "cloudify.interfaces.lifecycle.start")
        for e in rescheduled
    ), [e["message"] for e in rescheduled]
    assert any(
        e["type"] == "cloudify_log" and "Adding tags using resource_tags" in e["message"]
        for e in events
    )

    found = ec2(tools, moto)
    (vpc,) = found["vpcs"]
    expected_tags = {"team": "platform", "tenant": "default_tenant", "deployment_id": deployment}
    assert vpc["cidr"] == "10.10.0.0/16"
    assert vpc["tags"].items() >= {**expected_tags, "owner": "admin", "Name": "qd-vpc"}.items()
    assert vpc["tags"]["CreatedBy"].startswith(f"default_tenant-{deployment}-vpc_")
    (subnet,) = found["subnets"]
    assert (subnet["vpc"], subnet["cidr"]) == (vpc["id"], "10.10.1.0/24")
    assert subnet["tags"].items() >= expected_tags.items()
    (group,) = found["security_groups"]
    assert (group["name"], group["vpc"]) == ("qd-ssh", vpc["id"])
    assert group["ingress"] == [["tcp", 22, 22, ["0.0.0.0/0"]]]
    assert found["key_pairs"] == ["qd-key"]
    (instance,) = found["instances"]
    assert instance["state"] == "running"
    assert (instance["subnet"], instance["key"], instance["groups"]) == (
        subnet["id"],
        "qd-key",
        [group["id"]],
    )
    (address,) = found["addresses"]
    assert address["instance"] == instance["id"]

    instances = {i["node_id"]: i for i in node_instances(server, deployment)}
    assert {i["state"] for i in instances.values()} == {"started"}
    host = instances["host"]["runtime_properties"]
    assert host["aws_resource_id"] == instance["id"], json.dumps(host)[:3000]
    assert instances["vpc"]["runtime_properties"]["aws_resource_id"] == vpc["id"]
    assert instances["ip"]["runtime_properties"]["aws_resource_id"] == address["ip"]
    # The key material went to the secret, not to the runtime properties.
    assert "KeyMaterial" not in instances["key"]["runtime_properties"]["create_response"]
    with server.api() as api:
        stored = api.get(f"/secrets/{secret}")
        assert stored.status_code == 200, stored.text
        assert "PRIVATE KEY" in stored.json()["value"]
        outputs = api.get(f"/deployments/{deployment}/outputs").json()["outputs"]
    assert outputs == {"host_id": instance["id"], "public_ip": address["ip"], "vpc_id": vpc["id"]}

    uninstall = cfy.run(
        "executions", "start", "uninstall", "-d", deployment, "--timeout", str(INSTALL_TIMEOUT),
        rc=None, timeout=INSTALL_TIMEOUT + 60,
    )  # fmt: skip
    wait_for_executions(server, deployment)
    assert uninstall.rc == 0, f"{uninstall}\n{server.logs()}"
    gone = ec2(tools, moto)
    assert (gone["vpcs"], gone["subnets"], gone["security_groups"]) == ([], [], [])
    assert (gone["key_pairs"], gone["addresses"]) == ([], [])
    assert [i["state"] for i in gone["instances"]] == ["terminated"]
    with server.api() as api:
        assert api.get(f"/secrets/{secret}").status_code == 404
    assert {i["state"] for i in node_instances(server, deployment)} == {"deleted"}
