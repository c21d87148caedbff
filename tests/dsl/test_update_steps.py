"""The steps between a deployment's stored nodes and a new plan (manager.dsl.update_steps)."""

from __future__ import annotations

from typing import Any

import pytest

from manager.dsl.update_steps import (
    UnsupportedUpdate,
    extract_steps,
    modified_entity_ids,
    nodes_to_reinstall,
)

CREATE = "cloudify.interfaces.lifecycle.create"


def node(name: str, *rels: tuple[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "id": name,
        "type": fields.pop("type", "cloudify.nodes.Root"),
        "properties": fields.pop("properties", {}),
        "operations": fields.pop("operations", {}),
        "relationships": [
            {"type": kind, "target_id": target, "type_hierarchy": [kind]} for kind, target in rels
        ],
    }


def steps_of(old: list[dict[str, Any]], new: list[dict[str, Any]], **deployment: Any) -> list[Any]:
    found = extract_steps(old, deployment, {"nodes": new, **deployment})
    return [(s["action"], s["entity_type"], s["entity_id"]) for s in found]


def test_identical_plans_have_no_steps() -> None:
    nodes = [node("a"), node("b", ("cloudify.relationships.depends_on", "a"))]
    assert steps_of(nodes, nodes) == []


def test_added_and_removed_nodes_and_relationships_in_cloudify_order() -> None:
    old = [node("db"), node("old"), node("web", ("linked", "db"), ("linked", "old"))]
    new = [
        node("db"),
        node("app", ("linked", "cache")),
        node("cache"),
        node("web", ("linked", "db"), ("linked", "cache")),
    ]
    assert steps_of(old, new) == [
        ("remove", "relationship", ["nodes", "web", "relationships", 1]),
        ("remove", "node", ["nodes", "old"]),
        # targets before the nodes that depend on them, then the new relationships
        ("add", "node", ["nodes", "cache"]),
        ("add", "node", ["nodes", "app"]),
        ("add", "relationship", ["nodes", "web", "relationships", 1]),
    ]


def test_changed_operations_and_properties_make_the_node_reinstalled() -> None:
    old = [node("a", operations={CREATE: {"operation": "v1.sh"}}), node("b", properties={"p": 1})]
    new = [node("a", operations={CREATE: {"operation": "v2.sh"}}), node("b", properties={"p": 2})]
    steps = extract_steps(old, {}, {"nodes": new})
    assert [(s["action"], s["entity_type"], s["entity_id"]) for s in steps] == [
        ("modify", "operation", ["nodes", "a", "operations", CREATE]),
        ("modify", "property", ["nodes", "b", "properties", "p"]),
    ]
    assert nodes_to_reinstall(steps) == ["a", "b"]
    assert modified_entity_ids(steps)["operation"] == ["a"]


def test_outputs_workflows_and_description() -> None:
    old_deployment = {"description": "one", "outputs": {"x": 1, "y": 2}, "workflows": {}}
    new_plan = {
        "nodes": [],
        "description": "two",
        "outputs": {"x": 1, "z": 3},
        "workflows": {"w": {}},
    }
    steps = extract_steps([], old_deployment, new_plan)
    assert [(s["action"], s["entity_id"]) for s in steps] == [
        ("remove", ["outputs", "y"]),
        ("add", ["outputs", "z"]),
        ("add", ["workflows", "w"]),
        ("modify", ["description"]),
    ]


def test_a_node_may_not_change_its_type_or_container() -> None:
    with pytest.raises(UnsupportedUpdate, match="Node `a` changes its type"):
        extract_steps([node("a")], {}, {"nodes": [node("a", type="other")]})
    contained = "cloudify.relationships.contained_in"
    old = [node("h1"), node("h2"), node("a", (contained, "h1"))]
    new = [node("h1"), node("h2"), node("a", (contained, "h2"))]
    with pytest.raises(UnsupportedUpdate, match="from `cloudify.nodes.Root` in `h1`"):
        extract_steps(old, {}, {"nodes": new})
