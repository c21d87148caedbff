"""The containment forest of nodes and scaling groups that node instances multiply along."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .issues import DeploymentPlanError

CONTAINED_IN = "cloudify.relationships.contained_in"
DEPENDS_ON = "cloudify.relationships.depends_on"
CONNECTED_TO = "cloudify.relationships.connected_to"
_ALPHABET = string.ascii_lowercase + string.digits
IdFactory = Callable[[str], str]


def random_ids(taken: set[str] | None = None) -> IdFactory:
    """`<name>_<6 random [a-z0-9]>`, never repeating an id already taken."""
    used = taken if taken is not None else set()
    rng = random.Random()

    def make(name: str) -> str:
        while True:
            candidate = f"{name}_{''.join(rng.choices(_ALPHABET, k=6))}"
            if candidate not in used:
                used.add(candidate)
                return candidate

    return make


def sequential_ids(taken: set[str] | None = None) -> IdFactory:
    """Deterministic ids in the same format (base-36 counter per name): for tests."""
    counters: dict[str, int] = {}
    used = taken if taken is not None else set()

    def make(name: str) -> str:
        while True:
            n = counters.get(name, 0) + 1
            counters[name] = n
            digits = ""
            while n:
                n, r = divmod(n, 36)
                digits = _ALPHABET[(r + 26) % 36] + digits
            candidate = f"{name}_{digits.rjust(6, '0')}"
            if candidate not in used:
                used.add(candidate)
                return candidate

    return make


@dataclass(eq=False)
class EntityInstance:
    """One instance of a node or of a scaling group, placed under its parent instance."""

    id: str
    entity: str
    parent: EntityInstance | None
    is_group: bool
    children: list[EntityInstance] = field(default_factory=list)

    def ancestor(self, entity: str) -> EntityInstance | None:
        current = self.parent
        while current is not None:
            if current.entity == entity:
                return current
            current = current.parent
        return None

    def group_chain(self) -> list[EntityInstance]:
        """The scaling-group instances between this instance and its containing node
        instance, innermost first: empty for an instance in a group only because its
        container is (as in cloudify)."""
        out = []
        current = self.parent
        while current is not None and current.is_group:
            out.append(current)
            current = current.parent
        return out


def effective_relationships(node: dict[str, Any], group_member: bool) -> list[dict[str, Any]]:
    """The node's relationships as cloudify's node graph keeps them: one per target node, a
    later one to the same target replacing the earlier (and taking its place in the order).
    A scaling-group member's contained_in points at its group there, so it always stays."""
    rels = node.get("relationships") or []
    last: dict[Any, tuple[int, dict[str, Any]]] = {}
    for index, rel in enumerate(rels):
        key = rel["target_id"]
        if group_member and CONTAINED_IN in rel.get("type_hierarchy", ()):
            key = (CONTAINED_IN,)
        last[key] = (index, rel)
    if len(last) == len(rels):
        return rels
    return [rel for _, rel in sorted(last.values(), key=lambda pair: pair[0])]


def contained_in_target(node: dict[str, Any]) -> str | None:
    for rel in node.get("relationships") or []:
        if CONTAINED_IN in rel.get("type_hierarchy", ()):
            return rel["target_id"]
    return None


class NodeForest:
    """Nodes and scaling groups as one forest: parent_of[e] is a node, a group or None."""

    def __init__(self, nodes: list[dict[str, Any]], scaling_groups: dict[str, Any]) -> None:
        self.nodes = {n["id"]: n for n in nodes}
        self.groups = scaling_groups or {}
        self.parent_of: dict[str, str | None] = {}
        member_of: dict[str, str] = {}
        for gname, group in self.groups.items():
            for member in group.get("members", []):
                member_of.setdefault(member, gname)
        self.container = {name: contained_in_target(n) for name, n in self.nodes.items()}
        for name in self.nodes:
            self.parent_of[name] = member_of.get(name, self.container[name])
        for gname in self.groups:
            if gname in member_of:
                self.parent_of[gname] = member_of[gname]
            else:
                self.parent_of[gname] = self._group_container(gname)
        self.relationships = {
            name: effective_relationships(n, name in member_of) for name, n in self.nodes.items()
        }
        for name, rels in self.relationships.items():
            for rel in rels:
                hierarchy = rel.get("type_hierarchy", ())
                if not (
                    DEPENDS_ON in hierarchy
                    or CONNECTED_TO in hierarchy
                    or CONTAINED_IN in hierarchy
                ):
                    raise DeploymentPlanError(
                        f"Relationship type '{rel['type']}' of node '{name}' derives from none "
                        f"of {DEPENDS_ON}, {CONNECTED_TO}, {CONTAINED_IN} (UnsupportedRelationship)"
                    )
        self.order = [*self.nodes, *self.groups]
        self.children: dict[str | None, list[str]] = {}
        for entity in self.order:
            self.children.setdefault(self.parent_of[entity], []).append(entity)
        self.counts = {name: self._node_count(n) for name, n in self.nodes.items()}
        for gname, group in self.groups.items():
            self.counts[gname] = _int_count(group.get("properties", {}), gname)
        self._check_acyclic()

    def _group_container(self, group: str) -> str | None:
        nodes = self._member_nodes(group, set())
        for n in nodes:
            c = self.container.get(n)
            if c is not None and c not in nodes:
                return c
        return None

    def _member_nodes(self, group: str, seen: set[str]) -> set[str]:
        out: set[str] = set()
        for m in self.groups.get(group, {}).get("members", []):
            if m in self.nodes:
                out.add(m)
            elif m in self.groups and m not in seen:
                seen.add(m)
                out |= self._member_nodes(m, seen)
        return out

    def _node_count(self, node: dict[str, Any]) -> int:
        if "number_of_instances" in node:
            value = node["number_of_instances"]
            if isinstance(value, int):
                return value
        props = node.get("capabilities", {}).get("scalable", {}).get("properties", {})
        return _int_count(props, node["id"])

    def _check_acyclic(self) -> None:
        for entity in self.order:
            seen = {entity}
            parent = self.parent_of.get(entity)
            while parent is not None:
                if parent in seen:
                    raise DeploymentPlanError(f"Containment cycle through '{entity}'")
                seen.add(parent)
                parent = self.parent_of.get(parent)

    def entity_ancestors(self, entity: str) -> list[str]:
        out = []
        parent = self.parent_of.get(entity)
        while parent is not None:
            out.append(parent)
            parent = self.parent_of.get(parent)
        return out

    def expand(
        self,
        entity: str,
        parent: EntityInstance | None,
        new_id: IdFactory,
        sink: list[EntityInstance],
    ) -> EntityInstance:
        """One new instance of `entity` with all its descendants (current counts)."""
        inst = EntityInstance(new_id(entity), entity, parent, entity in self.groups)
        if parent is not None:
            parent.children.append(inst)
        sink.append(inst)
        for child in self.children.get(entity, []):
            for _ in range(self.counts[child]):
                self.expand(child, inst, new_id, sink)
        return inst

    def expand_all(self, new_id: IdFactory) -> list[EntityInstance]:
        sink: list[EntityInstance] = []
        for root in self.children.get(None, []):
            for _ in range(self.counts[root]):
                self.expand(root, None, new_id, sink)
        return sink


def _int_count(props: dict[str, Any], owner: str) -> int:
    value = props.get("planned_instances", props.get("default_instances", 1))
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DeploymentPlanError(
            f"'{owner}' instances count must be a non-negative integer, got {value!r}"
        )
    return value


class RelationshipBuilder:
    """Instance relationships (§19.6): contained_in to the parent, others all_to_all or
    all_to_one, kept inside a shared scaling-group instance."""

    def __init__(self, topology: NodeForest, instances: list[EntityInstance]) -> None:
        self.topology = topology
        self.by_node: dict[str, list[EntityInstance]] = {}
        for inst in instances:
            if not inst.is_group:
                self.by_node.setdefault(inst.entity, []).append(inst)
        self._groups: dict[str, list[str]] = {}

    def _groups_of(self, entity: str) -> list[str]:
        groups = self._groups.get(entity)
        if groups is None:
            groups = [
                e for e in self.topology.entity_ancestors(entity) if e in self.topology.groups
            ]
            self._groups[entity] = groups
        return groups

    def for_instance(self, inst: EntityInstance) -> list[dict[str, Any]]:
        out = []
        for rel in self.topology.relationships[inst.entity]:
            target = rel["target_id"]
            if CONTAINED_IN in rel.get("type_hierarchy", ()):
                parent = inst.ancestor(target)
                if parent is not None:
                    out.append({"type": rel["type"], "target_name": target, "target_id": parent.id})
                continue
            candidates = self.by_node.get(target, [])
            shared = None
            target_groups = self._groups_of(target)
            if target_groups:
                for group in self._groups_of(inst.entity):
                    if group in target_groups:
                        shared = group
                        break
            if shared is not None:
                mine = inst.ancestor(shared)
                candidates = [c for c in candidates if c.ancestor(shared) is mine]
            connection = (rel.get("properties") or {}).get("connection_type", "all_to_all")
            if connection == "all_to_one":
                if shared is not None:
                    raise DeploymentPlanError(
                        f"Node '{inst.entity}' has an all_to_one relationship to '{target}' "
                        f"inside the shared scaling group '{shared}' (UnsupportedAllToOneInGroup)"
                    )
                if candidates:
                    chosen = min(candidates, key=lambda c: c.id)
                    out.append({"type": rel["type"], "target_name": target, "target_id": chosen.id})
                continue
            out.extend(
                {"type": rel["type"], "target_name": target, "target_id": c.id} for c in candidates
            )
        return out


def node_instance_dict(
    inst: EntityInstance, topology: NodeForest, relationships: list[dict[str, Any]], index: int
) -> dict[str, Any]:
    node = topology.nodes[inst.entity]
    result: dict[str, Any] = {"id": inst.id, "name": inst.entity, "node_id": inst.entity}
    host = node.get("host_id")
    if host is not None:
        host_inst = inst if host == inst.entity else inst.ancestor(host)
        if host_inst is not None:
            result["host_id"] = host_inst.id
    result["relationships"] = relationships
    groups = inst.group_chain()
    if groups:
        result["scaling_groups"] = [{"name": g.entity, "id": g.id} for g in groups]
    result["index"] = index
    return result
