"""Differential tests: manager.dsl against cloudify-common 7.0.5's dsl_parser on the corpus.

For each blueprint both implementations parse, validate and plan a deployment with the
case's inputs; then the plans are compared aspect by aspect after normalising instance ids.
A case the reference refuses must be refused by us at the same stage.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import normalize
from .conftest import CASES, Case

VALID = [pytest.param(c, id=c.name) for c in CASES if c.expect == "valid"]
ALL = [pytest.param(c, id=c.name) for c in CASES]
Results = tuple[Case, dict[str, Any], dict[str, Any]]


def _outcome(result: dict[str, Any]) -> str:
    return "valid" if "plan" in result else f"refused_at_{result['stage']}"


def _describe(result: dict[str, Any]) -> str:
    if "plan" in result:
        return "accepted"
    return f"refused at {result['stage']}: {result['error_type']}: {result['message'][:1500]}"


def _plans(results: Results) -> tuple[dict[str, Any], dict[str, Any]]:
    case, reference, ours = results
    if "plan" not in reference:
        pytest.skip(f"the reference refuses {case.name} ({_describe(reference)}); see test_refusal")
    if "plan" not in ours:
        # test_refusal reports it (and fails); the aspects cannot be compared.
        pytest.skip(f"ours refuses {case.name} ({_describe(ours)[:300]}); see test_refusal")
    return reference["plan"], ours["plan"]


def _assert_same(aspect: str, reference: Any, ours: Any) -> None:
    lines = normalize.diff(reference, ours, aspect)
    assert not lines, f"{aspect} differ (reference vs ours):\n  " + "\n  ".join(lines)


@pytest.mark.parametrize("case", ALL)
def test_refusal(case: Case, results: Results) -> None:
    """The case's expectation holds for the reference (so the corpus means what it says), and
    ours accepts or refuses it exactly as the reference does, at the same stage."""
    _, reference, ours = results
    assert _outcome(reference) == case.expect, (
        f"corpus: {case.name} expects {case.expect}; the reference {_describe(reference)}"
    )
    if case.reference_error:
        assert case.reference_error in reference["message"], (
            f"corpus: the reference refuses {case.name} for another reason: "
            f"{reference['message'][:1500]}"
        )
    assert ours.get("stage") != "crash", f"ours crashed:\n{ours['message']}"
    assert _outcome(ours) == _outcome(reference), (
        f"reference {_describe(reference)}\nours {_describe(ours)}"
    )


@pytest.mark.parametrize("case", VALID)
def test_node_types(case: Case, results: Results) -> None:
    reference, ours = _plans(results)
    ref, our = normalize.node_aspects(reference), normalize.node_aspects(ours)
    assert sorted(ref["types"]) == sorted(our["types"]), "node templates differ"
    _assert_same("types", ref["types"], our["types"])


@pytest.mark.parametrize("case", VALID)
def test_properties(case: Case, results: Results) -> None:
    """Node properties after defaults and static function evaluation."""
    reference, ours = _plans(results)
    _assert_same(
        "properties",
        normalize.node_aspects(reference)["properties"],
        normalize.node_aspects(ours)["properties"],
    )


@pytest.mark.parametrize("case", VALID)
def test_operations(case: Case, results: Results) -> None:
    """Node operations (full and short names) and the merged interfaces."""
    reference, ours = _plans(results)
    _assert_same(
        "operations",
        normalize.node_aspects(reference)["operations"],
        normalize.node_aspects(ours)["operations"],
    )


@pytest.mark.parametrize("case", VALID)
def test_relationships(case: Case, results: Results) -> None:
    reference, ours = _plans(results)
    ref, our = normalize.node_aspects(reference), normalize.node_aspects(ours)
    _assert_same("relationships", ref["relationships"], our["relationships"])
    _assert_same(
        "relationship_operations", ref["relationship_operations"], our["relationship_operations"]
    )


@pytest.mark.parametrize("case", VALID)
def test_plugins(case: Case, results: Results) -> None:
    reference, ours = _plans(results)
    _assert_same(
        "plugins",
        normalize.node_aspects(reference)["plugins"],
        normalize.node_aspects(ours)["plugins"],
    )


@pytest.mark.parametrize("case", VALID)
def test_instances(case: Case, results: Results) -> None:
    """Instance counts per node, scalable capabilities, hosts, and the instance wiring."""
    reference, ours = _plans(results)
    _assert_same(
        "scalable",
        normalize.node_aspects(reference)["scalable"],
        normalize.node_aspects(ours)["scalable"],
    )
    ref_instances, our_instances = reference["node_instances"], ours["node_instances"]
    _assert_same(
        "instance_counts",
        normalize.instance_counts(ref_instances),
        normalize.instance_counts(our_instances),
    )
    _assert_same(
        "node_instances",
        normalize.normalise_instances(ref_instances),
        normalize.normalise_instances(our_instances),
    )


@pytest.mark.parametrize("case", VALID)
def test_outputs(case: Case, results: Results) -> None:
    """Outputs and capabilities after static evaluation (runtime functions stay raw)."""
    reference, ours = _plans(results)
    _assert_same("outputs", reference.get("outputs"), ours.get("outputs"))
    _assert_same("capabilities", reference.get("capabilities"), ours.get("capabilities"))


def _assert_sections(
    reference: dict[str, Any], ours: dict[str, Any], sections: tuple[str, ...]
) -> None:
    problems = []
    for section in sections:
        problems += normalize.diff(
            normalize.top_level(reference, section),
            normalize.top_level(ours, section),
            section,
            limit=15,
        )
    assert not problems, "plan sections differ (reference vs ours):\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("case", VALID)
def test_inputs_and_workflows(case: Case, results: Results) -> None:
    """Input values after defaults and data-type completion; workflow declarations."""
    _assert_sections(*_plans(results), normalize.INPUT_AND_WORKFLOW_SECTIONS)


@pytest.mark.parametrize("case", VALID)
def test_groups_and_policies(case: Case, results: Results) -> None:
    _assert_sections(*_plans(results), normalize.GROUP_SECTIONS)


@pytest.mark.parametrize("case", VALID)
def test_labels_and_settings(case: Case, results: Results) -> None:
    _assert_sections(*_plans(results), normalize.LABEL_SECTIONS)


@pytest.mark.parametrize("case", VALID)
def test_type_tables(case: Case, results: Results) -> None:
    """The plan's relationship-type and data-type tables."""
    _assert_sections(*_plans(results), normalize.TYPE_TABLE_SECTIONS)


@pytest.mark.parametrize("case", VALID)
def test_plan_metadata(case: Case, results: Results) -> None:
    """Version, description, metadata, resource tags, plugin lists, namespaces, requirements."""
    _assert_sections(*_plans(results), normalize.OTHER_SECTIONS)
