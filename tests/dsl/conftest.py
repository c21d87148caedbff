"""Helpers for the DSL tests: parse inline YAML, collect issues."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from manager.dsl import BlueprintInvalid, DslIssue, parse_blueprint, parse_text

FIXTURES = Path(__file__).parent / "fixtures"
HEADER = "tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\n"


def bp(body: str, header: str = HEADER) -> str:
    return header + textwrap.dedent(body)


def parse(body: str, header: str = HEADER, **kwargs: Any) -> dict[str, Any]:
    return parse_text(bp(body, header), **kwargs)


def issues(body: str, header: str = HEADER, **kwargs: Any) -> list[DslIssue]:
    with pytest.raises(BlueprintInvalid) as info:
        parse_text(bp(body, header), **kwargs)
    return info.value.issues


def one_issue(body: str, header: str = HEADER, **kwargs: Any) -> DslIssue:
    found = issues(body, header, **kwargs)
    assert len(found) == 1, [str(i) for i in found]
    return found[0]


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def parse_tree(
    root: Path, files: dict[str, str], main: str = "blueprint.yaml", **kwargs: Any
) -> dict[str, Any]:
    write_tree(root, files)
    return parse_blueprint(root, main, **kwargs)


def node(plan: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in plan["nodes"] if n["id"] == name)
