"""modify_deployment (§19.7): node instances added, removed, extended, reduced by scaling."""

from __future__ import annotations

import copy
from typing import Any

from .issues import ModificationError
from .topology import (
    EntityInstance,
    IdFactory,
    NodeForest,
    RelationshipBuilder,
    node_instance_dict,
    random_ids,
)


def _rebuild(
    topology: NodeForest, node_instances: list[dict[str, Any]]
) -> dict[str, EntityInstance]:
    """Entity instances (nodes and scaling groups) from stored node instances."""
    by_id = {i["id"]: i for i in node_instances}
    built: dict[str, EntityInstance] = {}

    def contained_target(raw: dict[str, Any]) -> str | None:
        parent = topology.container.get(raw["node_id"])
        if parent is None:
            return None
        for rel in raw.get("relationships") or []:
            if rel.get("target_name") == parent:
                return rel["target_id"]
        return None

    def build(instance_id: str) -> EntityInstance:
        if instance_id in built:
            return built[instance_id]
        raw = by_id[instance_id]
        node = raw["node_id"]
        groups = {g["name"]: g["id"] for g in raw.get("scaling_groups") or []}
        # the group instances up to the containing node instance, innermost first (an
        # instance lists only those; the container's own groups come with the container)
        chain: list[tuple[str, str]] = []
        container: str | None = None
        for entity in topology.entity_ancestors(node):
            if entity not in topology.groups:
                container = entity
                break
            if entity not in groups:
                raise ModificationError(
                    f"Node instance '{instance_id}' lacks its scaling group '{entity}'"
                )
            chain.append((entity, groups[entity]))
        parent: EntityInstance | None = None
        if container is not None:
            container_id = contained_target(raw)
            if container_id is None or container_id not in by_id:
                raise ModificationError(
                    f"Node instance '{instance_id}' lacks its container '{container}'"
                )
            parent = build(container_id)
        for entity, group_id in reversed(chain):
            existing = built.get(group_id)
            if existing is None:
                existing = EntityInstance(group_id, entity, parent, True)
                if parent is not None:
                    parent.children.append(existing)
                built[group_id] = existing
            parent = existing
        inst = EntityInstance(instance_id, node, parent, False)
        if parent is not None:
            parent.children.append(inst)
        built[instance_id] = inst
        return inst

    for raw in node_instances:
        build(raw["id"])
    return built


def _descendant_node_ids(inst: EntityInstance) -> list[str]:
    out = [] if inst.is_group else [inst.id]
    for child in inst.children:
        out.extend(_descendant_node_ids(child))
    return out


def _choose_removed(
    existing: list[EntityInstance], count: int, include: set[str], exclude: set[str]
) -> list[EntityInstance]:
    def touches(inst: EntityInstance, ids: set[str]) -> bool:
        return inst.id in ids or any(i in ids for i in _descendant_node_ids(inst))

    first = [i for i in existing if touches(i, include)]
    second = [i for i in existing if i not in first and not touches(i, exclude)]
    rest = [i for i in existing if i not in first and i not in second]
    return (first + second + rest)[:count]


def modify_deployment(
    nodes: list[dict[str, Any]],
    node_instances: list[dict[str, Any]],
    modified_nodes: dict[str, dict[str, Any]],
    *,
    scaling_groups: dict[str, Any] | None = None,
    id_factory: IdFactory | None = None,
) -> dict[str, Any]:
    """Applies `{entity: {instances: N, removed_ids_include_hint, removed_ids_exclude_hint}}`
    where an entity is a node or a scaling group; N is the count per parent instance.

    Returns added_and_related, extended_and_related, reduced_and_related,
    removed_and_related and the resulting node_instances.
    """
    topology = NodeForest(nodes, scaling_groups or {})
    for entity, change in modified_nodes.items():
        if entity not in topology.counts:
            raise ModificationError(f"'{entity}' is neither a node nor a scaling group")
        count = change.get("instances")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ModificationError(f"instances of '{entity}' must be a non-negative integer")
        topology.counts[entity] = count
    built = _rebuild(topology, node_instances)
    new_id = id_factory or random_ids(set(built))
    roots = [i for i in built.values() if i.parent is None]
    added: list[EntityInstance] = []
    removed_ids: set[str] = set()
    ordered = sorted(modified_nodes, key=lambda e: len(topology.entity_ancestors(e)))
    for entity in ordered:
        change = modified_nodes[entity]
        parent_entity = topology.parent_of.get(entity)
        parents: list[EntityInstance | None]
        if parent_entity is None:
            parents = [None]
        else:
            parents = [
                i for i in built.values() if i.entity == parent_entity and i.id not in removed_ids
            ]
        for parent in parents:
            siblings = parent.children if parent is not None else roots
            existing = [c for c in siblings if c.entity == entity and c.id not in removed_ids]
            wanted = topology.counts[entity]
            if wanted > len(existing):
                for _ in range(wanted - len(existing)):
                    sink: list[EntityInstance] = []
                    inst = topology.expand(entity, parent, new_id, sink)
                    if parent is None:
                        roots.append(inst)
                    added.extend(sink)
                    for s in sink:
                        built[s.id] = s
            elif wanted < len(existing):
                chosen = _choose_removed(
                    existing,
                    len(existing) - wanted,
                    set(change.get("removed_ids_include_hint") or []),
                    set(change.get("removed_ids_exclude_hint") or []),
                )
                for inst in chosen:
                    removed_ids.update(_all_ids(inst))
    return _diff(topology, built, node_instances, added, removed_ids)


def _all_ids(inst: EntityInstance) -> list[str]:
    out = [inst.id]
    for child in inst.children:
        out.extend(_all_ids(child))
    return out


def _key(rel: dict[str, Any]) -> tuple[str, str]:
    return rel["type"], rel["target_id"]


def _diff(
    topology: NodeForest,
    built: dict[str, EntityInstance],
    previous: list[dict[str, Any]],
    added: list[EntityInstance],
    removed_ids: set[str],
) -> dict[str, Any]:
    live = [i for i in built.values() if i.id not in removed_ids]
    rels = RelationshipBuilder(topology, live)
    old = {i["id"]: i for i in previous}
    added_ids = {i.id for i in added if not i.is_group}
    indexes: dict[str, int] = {}
    for raw in previous:
        indexes[raw["node_id"]] = max(indexes.get(raw["node_id"], 0), raw.get("index") or 0)
    result_instances: list[dict[str, Any]] = []
    added_list, extended, reduced = [], [], []
    for inst in live:
        if inst.is_group:
            continue
        new_rels = rels.for_instance(inst)
        if inst.id in added_ids:
            indexes[inst.entity] = indexes.get(inst.entity, 0) + 1
            record = node_instance_dict(inst, topology, new_rels, indexes[inst.entity])
            added_list.append(record)
            result_instances.append(record)
            continue
        prior = old[inst.id]
        old_keys = {_key(r) for r in prior.get("relationships") or []}
        new_keys = {_key(r) for r in new_rels}
        record = copy.deepcopy(prior)
        record["relationships"] = new_rels
        result_instances.append(record)
        gained = [r for r in new_rels if _key(r) not in old_keys]
        lost = [r for r in prior.get("relationships") or [] if _key(r) not in new_keys]
        if gained:
            extended.append(
                {**copy.deepcopy(prior), "relationships": gained, "modification": "extended"}
            )
        if lost:
            reduced.append(
                {**copy.deepcopy(prior), "relationships": lost, "modification": "reduced"}
            )
    by_id = {r["id"]: r for r in result_instances}
    removed = [
        {**copy.deepcopy(old[i]), "modification": "removed"} for i in old if i in removed_ids
    ]

    def related(
        marked: list[dict[str, Any]], pool: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        marked_ids = {m["id"] for m in marked}
        extra: dict[str, dict[str, Any]] = {}
        for m in marked:
            for rel in m.get("relationships") or []:
                tid = rel["target_id"]
                if tid not in marked_ids and tid in pool and tid not in extra:
                    extra[tid] = copy.deepcopy(pool[tid])
        return marked + list(extra.values())

    added_marked = [{**r, "modification": "added"} for r in added_list]
    old_pool = {k: v for k, v in old.items()}
    return {
        "added_and_related": related(added_marked, by_id),
        "extended_and_related": related(extended, by_id),
        "reduced_and_related": related(reduced, old_pool),
        "removed_and_related": related(
            removed, {k: v for k, v in by_id.items() if k not in removed_ids}
        ),
        "node_instances": result_instances,
    }
