"""The corpus's deployment update pairs (`update_pair_<name>_v1` and `_v2`): the steps that
manager.dsl finds from the first plan to the second, in the order a deployment update runs
them, and the nodes it reinstalls. Each blueprint's plan is compared with Cloudify's by
test_dsl_reference.py; cloudify-common has no step extractor (it lives in Cloudify's REST
service), so the expected steps here are written out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from manager.dsl.update_steps import extract_steps, nodes_to_reinstall

from .conftest import CASES, run_ours

LIFECYCLE_UPDATE = "cloudify.interfaces.lifecycle.update"

EXPECTED: dict[str, tuple[list[tuple[str, str, list[Any]]], list[str]]] = {
    "update_pair_add_node": ([("add", "node", ["nodes", "cache"])], []),
    "update_pair_change_props": (
        [
            ("add", "output", ["outputs", "version"]),
            # Root declares an empty `update`; giving it a script modifies it.
            ("modify", "operation", ["nodes", "frontend", "operations", LIFECYCLE_UPDATE]),
            ("modify", "operation", ["nodes", "frontend", "operations", "update"]),
            ("modify", "property", ["nodes", "frontend", "properties", "resource_id"]),
            ("modify", "output", ["outputs", "image"]),
        ],
        ["frontend"],
    ),
    "update_pair_remove_node": (
        [
            ("remove", "relationship", ["nodes", "app", "relationships", 0]),
            ("remove", "node", ["nodes", "legacy_proxy"]),
        ],
        [],
    ),
    "update_pair_workflows_labels": (
        [
            # A relationship whose type changed is removed and added again.
            ("remove", "relationship", ["nodes", "consumer", "relationships", 0]),
            ("add", "relationship", ["nodes", "consumer", "relationships", 0]),
            ("add", "workflow", ["workflows", "purge"]),
            ("modify", "workflow", ["workflows", "drain"]),
        ],
        [],
    ),
}


def _plan(name: str) -> dict[str, Any]:
    (case,) = [c for c in CASES if c.name == name]
    result = run_ours(case)
    assert "plan" in result, result
    return result["plan"]


def test_every_pair_has_its_expectation() -> None:
    pairs = {c.name[: -len("_v1")] for c in CASES if c.name.startswith("update_pair_")}
    assert pairs == set(EXPECTED)


@pytest.mark.parametrize("pair", sorted(EXPECTED))
def test_update_steps_between_the_pair(pair: str) -> None:
    old, new = _plan(f"{pair}_v1"), _plan(f"{pair}_v2")
    steps = extract_steps(old["nodes"], old, new)
    expected_steps, expected_reinstall = EXPECTED[pair]
    assert [(s["action"], s["entity_type"], s["entity_id"]) for s in steps] == expected_steps
    assert nodes_to_reinstall(steps) == expected_reinstall
