"""`load_topology(mapped_only=True)`, the lean read that graph builders use, gives them the
same topology as the full read: the same mapped operations, relationships and agent
install methods, on each database."""

from __future__ import annotations

import uuid
from typing import Any

from manager.db import Blueprint, Deployment, Tenant
from manager.db.engine import Database
from manager.dsl import create_deployment_plan, parse_text
from manager.orchestration.topologies import load_topology
from manager.services.deployments import insert_nodes
from manager.workflows.topology import Topology, is_mapped

BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  p: {executor: central_deployment_agent, source: p}
  h: {executor: host_agent, source: h}
node_types:
  t.Server:
    derived_from: cloudify.nodes.Compute
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: p.m.create, max_retries: 2, inputs: {size: {default: 3}}}
        start: h.m.start
node_templates:
  agentless:
    type: t.Server
    properties: {agent_config: {install_method: none}, ip: 10.0.0.1}
  legacy:
    type: cloudify.nodes.Compute
    properties: {install_agent: false}
  legacy_true:
    type: cloudify.nodes.Compute
    properties: {install_agent: true}
  remote:
    type: cloudify.nodes.Compute
  db:
    type: cloudify.nodes.DBMS
    interfaces:
      cloudify.interfaces.lifecycle:
        configure: {implementation: p.m.configure, executor: host_agent, timeout: 30}
    relationships:
      - type: cloudify.relationships.contained_in
        target: agentless
  app:
    type: cloudify.nodes.ApplicationModule
    instances: {deploy: 2}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.m.app_create
    relationships:
      - type: cloudify.relationships.contained_in
        target: agentless
      - type: cloudify.relationships.connected_to
        target: db
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            preconfigure: p.m.pre
            unlink: {implementation: p.m.unlink, max_retries: 0}
        target_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish: p.m.establish
      - type: cloudify.relationships.depends_on
        target: legacy
"""


def _mapped(operations: dict[str, Any]) -> dict[str, Any]:
    return {name: op for name, op in operations.items() if is_mapped(op)}


def _view(topology: Topology) -> dict[str, Any]:
    """What graph builders read of a topology."""
    return {
        "nodes": {
            node.id: (
                node.type,
                node.type_hierarchy,
                _mapped(node.operations),
                node.plugins,
                node.agent_install_method,
                [
                    (
                        r.get("target_id"),
                        r.get("type"),
                        r.get("type_hierarchy"),
                        _mapped(r.get("source_operations") or {}),
                        _mapped(r.get("target_operations") or {}),
                    )
                    for r in node.relationships
                ],
            )
            for node in topology.nodes.values()
        },
        "instances": {
            i.id: (
                i.node.id,
                i.state,
                i.host_id,
                [
                    (
                        r.index,
                        r.type,
                        r.target_node,
                        r.target_id,
                        _mapped(r.source_operations),
                        _mapped(r.target_operations),
                    )
                    for r in i.relationships
                ],
            )
            for i in topology.instances.values()
        },
    }


def _deployment(database: Database, nodes: list[dict[str, Any]], instances: list[Any]) -> int:
    name = f"topo-{uuid.uuid4().hex[:8]}"
    with database.transaction() as session:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.flush()
        blueprint = Blueprint(id=name, tenant_pk=tenant.pk, state="uploaded")
        session.add(blueprint)
        session.flush()
        deployment = Deployment(
            id=name, tenant_pk=tenant.pk, blueprint_pk=blueprint.pk, display_name=name
        )
        session.add(deployment)
        session.flush()
        insert_nodes(session, deployment, nodes, instances)
        return deployment.pk


def _both(database: Database, deployment_pk: int) -> tuple[Topology, Topology]:
    with database.transaction() as session:
        deployment = session.get(Deployment, deployment_pk)
        assert deployment is not None
        return (
            load_topology(session, deployment),
            load_topology(session, deployment, mapped_only=True),
        )


def test_the_lean_read_gives_builders_what_the_full_read_gives(database: Database) -> None:
    plan = create_deployment_plan(parse_text(BLUEPRINT), {})
    full, lean = _both(database, _deployment(database, plan["nodes"], plan["node_instances"]))
    assert _view(lean) == _view(full)
    methods = {node.id: node.agent_install_method for node in lean.nodes.values()}
    assert methods == {
        "agentless": "none",
        "legacy": "none",
        "legacy_true": "remote",
        "remote": "remote",
        "db": None,
        "app": None,
    }
    create = lean.nodes["agentless"].operations["cloudify.interfaces.lifecycle.create"]
    assert create["inputs"] == {"size": 3} and create["max_retries"] == 2
    assert "cloudify.interfaces.lifecycle.stop" not in lean.nodes["agentless"].operations


def test_the_lean_read_of_unusual_rows(database: Database) -> None:
    """Rows the DSL would not write, as older versions or hand edits may have left them."""
    compute = ["cloudify.nodes.Root", "cloudify.nodes.Compute"]
    op: dict[str, Any] = {"operation": "p.m.x", "plugin": "p", "executor": None, "inputs": {}}
    nodes: list[dict[str, Any]] = [
        {"id": "a", "type": "x", "type_hierarchy": compute, "properties": {"agent_config": "no"}},
        {
            "id": "b",
            "type": "x",
            "type_hierarchy": compute,
            "properties": {"agent_config": {"install_method": 7}},
            "operations": {"x": op, "y": {"operation": None}, "z": {}},
        },
        {
            "id": "c",
            "type": "x",
            "type_hierarchy": ["x"],
            "operations": {"x": op},
            "relationships": [
                {"type": "r", "target_id": "a"},
                {"type": "r2", "target_id": "b", "source_operations": {"s": op}},
            ],
        },
    ]
    instances: list[dict[str, Any]] = [
        {"id": "a_1", "node_id": "a"},
        {"id": "b_1", "node_id": "b"},
        {
            "id": "c_1",
            "node_id": "c",
            "host_id": "a_1",
            "relationships": [
                {"type": "r", "target_name": "a", "target_id": "a_1"},
                {"type": "r2", "target_name": "b", "target_id": "b_1"},
                {"type": "gone", "target_name": "b", "target_id": "b_1"},
            ],
        },
    ]
    full, lean = _both(database, _deployment(database, nodes, instances))
    assert _view(lean) == _view(full)
    assert lean.nodes["a"].agent_install_method == "remote"
    assert lean.nodes["b"].agent_install_method == "remote"
