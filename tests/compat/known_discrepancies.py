"""Known differences of manager.dsl from cloudify-common 7.0.5, applied as strict xfails.

{test function: {case name or "*": reason}}; "*" covers every case of that test. Strict: once
manager.dsl is fixed the test XPASSes, which fails, so the entry must then be removed.

Empty: every difference the corpus shows has been fixed. Deliberate departures that the
corpus does not exercise are listed in manager/dsl/README.md ("Known gaps").
"""

from __future__ import annotations

KNOWN: dict[str, dict[str, str]] = {}


def known_reason(test: str, case: str) -> str | None:
    cases = KNOWN.get(test, {})
    return cases.get(case) or cases.get("*")
