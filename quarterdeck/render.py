"""A tiny `{{ path }}` template renderer for resources (the SDK may not depend on Jinja2)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Only what blueprint resources use in practice: `{{ name }}`, `{{ a.b[0].c }}`.
_EXPR = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\]|\[['\"][^'\"]*['\"]\])*)\s*\}\}")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]|\[['\"]([^'\"]*)['\"]\]")
_MISSING = object()


def _lookup(variables: Mapping[str, Any], expr: str) -> Any:
    head = re.match(r"[A-Za-z_]\w*", expr)
    assert head is not None
    value: Any = variables.get(head.group(0), _MISSING)
    for step in _STEP.finditer(expr, head.end()):
        if value is _MISSING:
            break
        attr, index, key = step.groups()
        name = attr if attr is not None else key
        if index is not None:
            try:
                value = value[int(index)]
            except (LookupError, TypeError):
                value = _MISSING
        elif isinstance(value, Mapping):
            value = value.get(name, _MISSING)
        else:
            value = getattr(value, name, _MISSING)
    return value


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Replace every `{{ expr }}`; an undefined name renders empty, as in Jinja2."""

    def substitute(match: re.Match[str]) -> str:
        value = _lookup(variables, match.group(1))
        return "" if value is _MISSING or value is None else str(value)

    return _EXPR.sub(substitute, template)


def needs_rendering(text: str) -> bool:
    # Cloudify renders only files that look like templates.
    return "{{" in text or "{%" in text or "{#" in text
