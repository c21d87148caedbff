"""The steps of a deployment update: what differs between a deployment's stored nodes and a
new deployment plan, in the form Cloudify lists them (`cfy deployments get-update`).

Each step is `{action, entity_type, entity_id, topology_order}`: `action` is add, remove or
modify; `entity_id` is a path such as `["nodes", "web"]`,
`["nodes", "web", "operations", "cloudify.interfaces.lifecycle.create"]` or
`["nodes", "web", "relationships", 0]`. Pure data in, pure data out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from .issues import DslError

CONTAINED_IN = "cloudify.relationships.contained_in"
_ACTION_ORDER = ("remove", "add", "modify")


class UnsupportedUpdate(DslError):
    """The new plan changes something a deployment update cannot apply in place."""

    error_code = "bad_parameters_error"


def extract_steps(
    old_nodes: list[dict[str, Any]],
    old_deployment: dict[str, Any],
    new_plan: dict[str, Any],
) -> list[dict[str, Any]]:
    """Every step from the stored nodes and deployment fields to `new_plan`, sorted as
    Cloudify runs them: removals, then additions (nodes before their relationships, targets
    before sources), then modifications."""
    old = {node["id"]: node for node in old_nodes}
    new = {node["id"]: node for node in new_plan.get("nodes") or []}
    steps: list[dict[str, Any]] = []
    if (new_plan.get("description") or None) != (old_deployment.get("description") or None):
        steps.append(_step("modify", "description", ["description"]))
    steps.extend(_diff_nodes(new, old))
    for section, kind in (("outputs", "output"), ("workflows", "workflow")):
        for action, key in _diff_dicts(new_plan.get(section), old_deployment.get(section)):
            steps.append(_step(action, kind, [section, key]))
    _order_added_nodes(steps, new)
    steps.sort(key=_sort_key)
    return steps


def _step(action: str, entity_type: str, entity_id: list[Any]) -> dict[str, Any]:
    return {
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "topology_order": 0,
    }


def _container(node: dict[str, Any]) -> str | None:
    for rel in node.get("relationships") or []:
        if CONTAINED_IN in (rel.get("type_hierarchy") or [rel.get("type")]):
            return str(rel.get("target_id"))
    return None


def _diff_nodes(
    new: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    for name, node in new.items():
        if name not in old:
            yield _step("add", "node", ["nodes", name])
            continue
        before = old[name]
        if node["type"] != before["type"] or _container(node) != _container(before):
            raise UnsupportedUpdate(
                f"Node `{name}` changes its type or its container (from `{before['type']}` in "
                f"`{_container(before)}` to `{node['type']}` in `{_container(node)}`): a "
                "deployment update cannot change either; give the node a new name instead"
            )
        yield from _diff_node(name, node, before)
    for name in old:
        if name not in new:
            yield _step("remove", "node", ["nodes", name])


def _diff_node(name: str, new: dict[str, Any], old: dict[str, Any]) -> Iterator[dict[str, Any]]:
    base = ["nodes", name]
    for action, operation in _diff_dicts(new.get("operations"), old.get("operations")):
        yield _step(action, "operation", [*base, "operations", operation])
    new_rels, old_rels = new.get("relationships") or [], old.get("relationships") or []
    seen: Counter[tuple[str, str]] = Counter()
    for index, rel in enumerate(new_rels):
        rel_key = (rel.get("type", ""), rel.get("target_id", ""))
        match, old_index = _find_relationship(old_rels, rel_key, seen[rel_key])
        seen[rel_key] += 1
        entity = [*base, "relationships", index]
        if match is None:
            yield _step("add", "relationship", entity)
            continue
        if old_index != index:
            yield _step("modify", "relationship", [*base, "relationships", old_index, index])
        for side in ("source_operations", "target_operations"):
            for action, op_name in _diff_dicts(rel.get(side), match.get(side)):
                yield _step(action, "operation", [*entity, side, op_name])
    seen = Counter()
    for index, rel in enumerate(old_rels):
        rel_key = (rel.get("type", ""), rel.get("target_id", ""))
        match, _ = _find_relationship(new_rels, rel_key, seen[rel_key])
        seen[rel_key] += 1
        if match is None:
            yield _step("remove", "relationship", [*base, "relationships", index])
    for action, prop in _diff_dicts(new.get("properties"), old.get("properties")):
        yield _step(action, "property", [*base, "properties", prop])


def _find_relationship(
    relationships: list[dict[str, Any]], key: tuple[str, str], skip: int
) -> tuple[dict[str, Any] | None, int | None]:
    """The `skip`-th relationship of that type towards that target (and its index)."""
    for index, rel in enumerate(relationships):
        if (rel.get("type", ""), rel.get("target_id", "")) == key:
            if skip == 0:
                return rel, index
            skip -= 1
    return None, None


def _diff_dicts(
    new: dict[str, Any] | None,
    old: dict[str, Any] | None,
    same: Callable[[Any, Any], bool] = lambda a, b: bool(a == b),
) -> Iterator[tuple[str, str]]:
    new, old = new or {}, old or {}
    for key in sorted(set(new) | set(old)):
        if key not in old:
            yield "add", key
        elif key not in new:
            yield "remove", key
        elif not same(new[key], old[key]):
            yield "modify", key


def _order_added_nodes(steps: list[dict[str, Any]], new: dict[str, dict[str, Any]]) -> None:
    """Number added nodes so that a target sorts before the nodes that depend on it."""
    added = {
        s["entity_id"][1] for s in steps if s["action"] == "add" and s["entity_type"] == "node"
    }
    depth: dict[str, int] = {}

    def level(name: str, path: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        targets = [
            r.get("target_id")
            for r in new[name].get("relationships") or []
            if r.get("target_id") in added and r.get("target_id") not in path
        ]
        depth[name] = 1 + max((level(str(t), path | {name}) for t in targets), default=-1)
        return depth[name]

    for step in steps:
        if step["action"] == "add" and step["entity_type"] == "node":
            step["topology_order"] = level(step["entity_id"][1], frozenset())


def _sort_key(step: dict[str, Any]) -> tuple[int, int, int]:
    action = _ACTION_ORDER.index(step["action"])
    kind = step["entity_type"]
    if step["action"] == "add":
        return action, 0 if kind == "node" else 1, step["topology_order"]
    if step["action"] == "remove":
        return action, 0 if kind == "relationship" else 1, 0
    return action, 0, 0


def modified_entity_ids(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The entities each kind of step touches, by kind (Cloudify's `modified_entity_ids`)."""
    found: dict[str, Any] = {
        "node": [],
        "relationship": {},
        "property": [],
        "operation": [],
        "workflow": [],
        "output": [],
        "description": [],
    }
    for step in steps:
        entity = step["entity_id"]
        if len(entity) < 2:
            continue
        kind = step["entity_type"]
        if kind == "relationship":
            target = entity[3] if len(entity) > 3 else None
            found["relationship"].setdefault(entity[1], []).append(target)
        elif entity[1] not in found.setdefault(kind, []):
            found[kind].append(entity[1])
    return found


def nodes_to_reinstall(steps: list[dict[str, Any]]) -> list[str]:
    """Kept nodes whose operations or properties changed: their instances are reinstalled
    (as Cloudify does for instances that have no `update` operation to apply the change)."""
    names: list[str] = []
    for step in steps:
        entity = step["entity_id"]
        kind = step["entity_type"]
        if kind in ("operation", "property") and entity[0] == "nodes" and entity[1] not in names:
            names.append(entity[1])
    return names
