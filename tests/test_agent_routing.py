"""Where a workflow builder sends each operation of a hosted node, by the host's agent install
method (Cloudify's rules; pure, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from manager.workflows.topology import AgentRequired, Topology, install_method, operation_queue

COMPUTE = ["cloudify.nodes.Root", "cloudify.nodes.Compute"]
SCRIPT = {"operation": "script_runner.tasks.run", "plugin": "script", "executor": "auto"}


def _topology(agent_config: dict[str, Any]) -> Topology:
    nodes = [
        {"id": "vm", "type": "cloudify.nodes.Compute", "type_hierarchy": COMPUTE,
         "properties": {"agent_config": agent_config}},
        {"id": "app", "type": "cloudify.nodes.Root", "type_hierarchy": ["cloudify.nodes.Root"],
         "properties": {}},
    ]  # fmt: skip
    instances = [
        {"id": "vm_1", "node_id": "vm", "host_id": "vm_1"},
        {"id": "app_1", "node_id": "app", "host_id": "vm_1"},
    ]
    return Topology(nodes, instances)


def _queue(method: str, executor: str) -> str:
    topology = _topology({"install_method": method})
    app = topology.instances["app_1"]
    return operation_queue(topology, app, "create", {**SCRIPT, "executor": executor})


def test_install_method_follows_cloudifys_reading() -> None:
    assert install_method(COMPUTE, {"install_agent": False}) == "none"
    assert install_method(COMPUTE, {"install_agent": True}) == "remote"
    assert install_method(COMPUTE, {"agent_config": {"install_method": "provided"}}) == "provided"
    assert install_method(COMPUTE, {}) == "remote"
    assert install_method(["cloudify.nodes.Root"], {}) is None


@pytest.mark.parametrize(
    ("method", "executor", "queue"),
    [
        ("none", "auto", "central"),
        ("none", "host_agent", "agent.vm_1"),
        ("provided", "auto", "agent.vm_1"),
        ("provided", "host_agent", "agent.vm_1"),
        ("remote", "central_deployment_agent", "central"),
    ],
)
def test_where_operations_of_a_hosted_node_go(method: str, executor: str, queue: str) -> None:
    assert _queue(method, executor) == queue


@pytest.mark.parametrize("method", ["remote", "init_script", "plugin"])
@pytest.mark.parametrize("executor", ["auto", "host_agent"])
def test_a_host_whose_agent_would_be_installed_is_refused(method: str, executor: str) -> None:
    with pytest.raises(AgentRequired) as refused:
        _queue(method, executor)
    assert refused.value.status_code == 400
    assert f"agent_config.install_method is `{method}`" in refused.value.message
    assert "Node `app` (instance `app_1`)" in refused.value.message
