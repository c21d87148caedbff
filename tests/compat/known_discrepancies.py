"""Known differences of manager.dsl from cloudify-common 7.0.5, applied as strict xfails.

{test function: {case name or "*": reason}}; "*" covers every case of that test. Strict: once
manager.dsl is fixed the test XPASSes, which fails, so the entry must then be removed.

Deliberate departures that the corpus does not exercise are listed in manager/dsl/README.md
("Known gaps").
"""

from __future__ import annotations

_DICT_INPUT = (
    "a dict-typed relationship operation input keeps the template's value (or its default); "
    "Cloudify adds the schema's 'type' key to it and an inputs_types table"
)

KNOWN: dict[str, dict[str, str]] = {
    "test_relationships": {
        # The relationship type declares `parameters: {type: dict, default: {}}`; the template
        # gives `parameters: {member: vm}`. Cloudify 7.0.5 merges the schema's `type` key into
        # that value (the workflow would receive `{member: vm, type: dict}`) and adds an
        # `inputs_types` table to the relationship operation. Both look like accidents of its
        # relationship-operation merge (node operations do neither), so manager.dsl keeps the
        # value as written.
        "shared_resource_depends_on": _DICT_INPUT,
        # Same accident with the default `{}`: Cloudify's value becomes `{type: dict}`.
        "shared_resource_connected_to": _DICT_INPUT,
    },
}


def known_reason(test: str, case: str) -> str | None:
    cases = KNOWN.get(test, {})
    return cases.get(case) or cases.get("*")
