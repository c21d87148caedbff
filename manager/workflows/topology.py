"""A deployment's nodes and instances as workflow builders read them: plain data, no ORM."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from manager.errors import CodedError
from wire.queues import CENTRAL_QUEUE, agent_queue

# Interfaces whose operations an orchestrator runs; cloudify_agent operations need agents,
# which Quarterdeck does not install (hosts are reached through `host_agent` workers).
LIFECYCLE = "cloudify.interfaces.lifecycle"
VALIDATION = "cloudify.interfaces.validation"
MONITORING = "cloudify.interfaces.monitoring"
RELATIONSHIP = "cloudify.interfaces.relationship_lifecycle"

COMPUTE = "cloudify.nodes.Compute"
# Cloudify's agent install methods (`agent_config.install_method` of a Compute node):
# `none` means no agent (Quarterdeck runs the host's operations on its own workers),
# `provided` an agent already on the host (here: a `quarterdeck worker --agent <host
# instance id>` the operator runs there). The others make Cloudify install an agent, over
# SSH/WinRM (`remote`) or from a script the host runs at boot; Quarterdeck installs none.
NO_AGENT = "none"
PROVIDED_AGENT = "provided"
INSTALLED_AGENT_METHODS = ("remote", "init_script", "plugin")


@dataclass
class RelationshipRef:
    index: int  # position in the source node's relationships
    type: str
    target_node: str
    target_id: str  # the target instance
    source_operations: dict[str, Any]
    target_operations: dict[str, Any]


@dataclass
class Instance:
    id: str
    node: NodeInfo
    state: str
    host_id: str | None
    relationships: list[RelationshipRef] = field(default_factory=list)

    @property
    def targets(self) -> list[str]:
        return [r.target_id for r in self.relationships]


@dataclass
class NodeInfo:
    id: str
    type: str
    type_hierarchy: list[str]
    operations: dict[str, Any]
    relationships: list[dict[str, Any]]
    plugins: dict[str, dict[str, Any]]
    # A Compute node's agent install method (Cloudify's rules, see `install_method`);
    # None for other nodes.
    agent_install_method: str | None = None

    @property
    def needs_agent_install(self) -> bool:
        """Whether Cloudify would install an agent on this node's hosts."""
        return self.agent_install_method in INSTALLED_AGENT_METHODS


def install_method(type_hierarchy: Iterable[str], properties: dict[str, Any]) -> str | None:
    """A Compute node's agent install method, as Cloudify reads it: the deprecated boolean
    `install_agent` wins when set (false: `none`, true: `remote`), else
    `agent_config.install_method` (`remote` by default in the standard types)."""
    if COMPUTE not in type_hierarchy:
        return None
    legacy = properties.get("install_agent")
    if legacy is False:
        return NO_AGENT
    if legacy is True:
        return "remote"
    config = properties.get("agent_config")
    method = config.get("install_method") if isinstance(config, dict) else None
    return method if isinstance(method, str) and method else "remote"


class AgentRequired(CodedError):
    """A workflow would run an operation on a host whose agent Quarterdeck cannot install."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "agent_not_supported_error", 400)


class Topology:
    """A deployment's nodes and node instances as the workflow builders read them (plain
    data, no ORM); `orchestration.topologies.load_topology` reads it from the database.
    Not the DSL's `NodeForest`, which plans instances from a blueprint's nodes."""

    def __init__(self, nodes: Iterable[dict[str, Any]], instances: Iterable[dict[str, Any]]):
        self.nodes: dict[str, NodeInfo] = {}
        for node in nodes:
            self.nodes[node["id"]] = NodeInfo(
                id=node["id"],
                type=node["type"],
                type_hierarchy=list(node.get("type_hierarchy") or []),
                operations=node.get("operations") or {},
                relationships=list(node.get("relationships") or []),
                plugins={p["name"]: p for p in node.get("plugins") or [] if p.get("name")},
                agent_install_method=install_method(
                    node.get("type_hierarchy") or [], node.get("properties") or {}
                ),
            )
        self.instances: dict[str, Instance] = {}
        for row in instances:
            info = self.nodes[row["node_id"]]
            instance = Instance(
                row["id"], info, row.get("state") or "uninitialized", row.get("host_id")
            )
            for rel in row.get("relationships") or []:
                index = _relationship_index(info, rel)
                definition = info.relationships[index] if index is not None else {}
                instance.relationships.append(
                    RelationshipRef(
                        index=index if index is not None else -1,
                        type=rel.get("type", ""),
                        target_node=rel.get("target_name", ""),
                        target_id=rel["target_id"],
                        source_operations=definition.get("source_operations") or {},
                        target_operations=definition.get("target_operations") or {},
                    )
                )
            self.instances[instance.id] = instance

    def select(
        self,
        node_ids: Iterable[str] = (),
        node_instance_ids: Iterable[str] = (),
        type_names: Iterable[str] = (),
    ) -> list[Instance]:
        """Instances matching every given filter (an empty filter matches all)."""
        node_ids, ids, types = set(node_ids), set(node_instance_ids), set(type_names)
        return [
            i
            for i in self.instances.values()
            if (not node_ids or i.node.id in node_ids)
            and (not ids or i.id in ids)
            and (not types or types & set(i.node.type_hierarchy))
        ]

    def dependency_order(self, instances: Iterable[Instance]) -> list[Instance]:
        """Targets before their sources (install order); ties keep a stable id order."""
        chosen = {i.id: i for i in sorted(instances, key=lambda i: i.id)}
        done: set[str] = set()
        order: list[Instance] = []

        def visit(instance: Instance, path: set[str]) -> None:
            if instance.id in done:
                return
            path.add(instance.id)
            for target in instance.targets:
                if target in chosen and target not in path:
                    visit(chosen[target], path)
            path.discard(instance.id)
            done.add(instance.id)
            order.append(instance)

        for instance in chosen.values():
            visit(instance, set())
        return order

    def sources_of(self, instance_ids: set[str]) -> list[tuple[Instance, RelationshipRef]]:
        """Relationships from instances outside `instance_ids` into it."""
        found = []
        for instance in self.instances.values():
            if instance.id in instance_ids:
                continue
            for rel in instance.relationships:
                if rel.target_id in instance_ids:
                    found.append((instance, rel))
        return found

    def contained_subgraph(self, root_id: str) -> list[Instance]:
        """`root_id` and every instance contained in it, transitively."""
        children: dict[str, list[Instance]] = {}
        for instance in self.instances.values():
            for rel in instance.relationships:
                if "cloudify.relationships.contained_in" in _hierarchy(instance.node, rel):
                    children.setdefault(rel.target_id, []).append(instance)
        found, todo = [], [self.instances[root_id]]
        while todo:
            current = todo.pop()
            found.append(current)
            todo.extend(children.get(current.id, []))
        return found


def _hierarchy(node: NodeInfo, rel: RelationshipRef) -> list[str]:
    if 0 <= rel.index < len(node.relationships):
        return list(node.relationships[rel.index].get("type_hierarchy") or [rel.type])
    return [rel.type]


def _relationship_index(node: NodeInfo, rel: dict[str, Any]) -> int | None:
    for index, definition in enumerate(node.relationships):
        if definition.get("target_id") == rel.get("target_name") and definition.get(
            "type"
        ) == rel.get("type"):
            return index
    return None


def is_mapped(operation: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    return bool(operation and operation.get("operation"))


def executor_of(instance: Instance, operation: dict[str, Any]) -> str:
    """The operation's executor: its own, else its plugin's; `auto` (scripts) when neither
    says, which means the host's agent when the instance has a host (Cloudify's rule)."""
    executor = operation.get("executor")
    if executor is None:
        plugin = instance.node.plugins.get(operation.get("plugin") or "")
        executor = (plugin or {}).get("executor")
    return str(executor or "auto")


def operation_queue(
    topology: Topology, instance: Instance, name: str, operation: dict[str, Any]
) -> str:
    """Where an operation runs: the central workers, or the queue of its host's agent.

    An explicit `host_agent` operation goes to its host's agent queue. An `auto` one (a
    script without an executor) goes there too unless the host has no agent
    (`install_method: none`), in which case the central workers run it. Either way, a host
    whose agent Cloudify would install (`remote`, `init_script`, `plugin`) has none here,
    so the operation is refused (`AgentRequired`) rather than run on the manager."""
    executor = executor_of(instance, operation)
    host = topology.instances.get(instance.host_id) if instance.host_id else None
    if host is None or executor == "central_deployment_agent":
        return CENTRAL_QUEUE
    method = host.node.agent_install_method
    if executor == "auto" and method == NO_AGENT:
        return CENTRAL_QUEUE
    if host.node.needs_agent_install:
        raise AgentRequired(
            f"Node `{instance.node.id}` (instance `{instance.id}`) would run `{name}` on the "
            f"agent of its host `{host.node.id}` (instance `{host.id}`), whose "
            f"agent_config.install_method is `{method}`: Quarterdeck does not install agents. "
            f"{AGENT_ADVICE}"
        )
    return agent_queue(host.id)


AGENT_ADVICE = (
    "Set the host's agent_config.install_method to `none` (its scripts then run on the "
    "manager's workers), or to `provided` and run `quarterdeck worker --agent <host "
    "instance id>` on that host, or give the operation `executor: central_deployment_agent`."
)


def refuse_agent_install(instance: Instance) -> None:
    """Installing a Compute instance whose agent Cloudify would install is refused: here it
    would end `started` with no agent on the host (and nothing to run its operations)."""
    if instance.node.needs_agent_install:
        raise AgentRequired(
            f"Node `{instance.node.id}` (instance `{instance.id}`) is a {COMPUTE} whose "
            f"agent_config.install_method is `{instance.node.agent_install_method}`: "
            f"Quarterdeck does not install agents. {AGENT_ADVICE}"
        )
