"""DSL version strings (`cloudify_dsl_1_3`) and the features each version unlocks."""

from __future__ import annotations

import re
from typing import Any

from .issues import Issues, Pos

DEFINITIONS_NAME = "cloudify_dsl"
SUPPORTED = [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5)]
_VERSION = re.compile(r"^cloudify_dsl_(\d+)_(\d+)(?:_(\d+))?$")


def parse_version(raw: Any) -> tuple[int, int] | None:
    if not isinstance(raw, str):
        return None
    m = _VERSION.match(raw)
    if not m:
        return None
    version = (int(m.group(1)), int(m.group(2)))
    return version if version in SUPPORTED else None


def version_str(version: tuple[int, int]) -> str:
    return f"{DEFINITIONS_NAME}_{version[0]}_{version[1]}"


def plan_version(raw: str, version: tuple[int, int]) -> dict[str, Any]:
    return {
        "raw": raw,
        "definitions_name": DEFINITIONS_NAME,
        "definitions_version": [version[0], version[1]],
    }


class Gate:
    """Reports features used below the version that introduced them (one issue per use)."""

    def __init__(self, version: tuple[int, int], issues: Issues) -> None:
        self.version = version
        self.issues = issues

    def require(self, minimum: tuple[int, int], feature: str, at: Pos) -> bool:
        if self.version >= minimum:
            return True
        self.issues.add(
            "feature_version",
            f"{feature} is not supported in {version_str(self.version)}; "
            f"it requires {version_str(minimum)} or later",
            at,
        )
        return False
