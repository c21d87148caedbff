"""Input and parameter constraints (§5): shape checks at parse time, value checks later."""

from __future__ import annotations

import re
from typing import Any

from .issues import Issues, Pos
from .loader import plain, pos_of

_SCALAR_OPS = ("equal", "greater_than", "greater_or_equal", "less_than", "less_or_equal")
_LENGTH_OPS = ("length", "min_length", "max_length")
# These need manager data (deployments, labels, tenants); accepted and skipped here.
DATA_BASED_OPS = ("filter_id", "labels", "tenants", "name_pattern", "deployment_id")
ALL_OPS = (*_SCALAR_OPS, "in_range", "valid_values", *_LENGTH_OPS, "pattern", *DATA_BASED_OPS)


def parse_constraints(
    raw: Any, owner: str, issues: Issues, at: Pos, gate: Any
) -> list[dict[str, Any]]:
    """Checks each `{operator: args[, error_message]}` item; returns the valid ones."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        issues.add("invalid_constraint", f"constraints of {owner} must be a list", at)
        return []
    out = []
    for index, item in enumerate(raw):
        iat = pos_of(raw, index, at)
        if not isinstance(item, dict):
            issues.add("invalid_constraint", f"constraint {index} of {owner} must be a dict", iat)
            continue
        ops = [k for k in item if k != "error_message"]
        if "error_message" in item:
            gate.require((1, 5), "constraint error_message", iat)
        if len(ops) != 1:
            issues.add(
                "invalid_constraint",
                f"constraint {index} of {owner} must have exactly one operator",
                iat,
            )
            continue
        op = ops[0]
        args = item[op]
        if op not in ALL_OPS:
            issues.add("unknown_constraint", f"Unknown constraint operator '{op}' in {owner}", iat)
            continue
        problem = _check_args(op, args)
        if problem:
            issues.add("invalid_constraint", f"Constraint '{op}' of {owner}: {problem}", iat)
            continue
        out.append(plain(item))
    return out


def _check_args(op: str, args: Any) -> str | None:
    if op in _SCALAR_OPS:
        return "expects a single value" if isinstance(args, list | dict) else None
    if op == "in_range":
        if not (isinstance(args, list) and len(args) == 2):
            return "expects a [min, max] list"
        if all(isinstance(a, int | float) for a in args) and args[0] > args[1]:
            return "min is greater than max"
        return None
    if op == "valid_values":
        return None if isinstance(args, list) else "expects a list"
    if op in _LENGTH_OPS:
        if isinstance(args, int) and not isinstance(args, bool) and args >= 0:
            return None
        return "expects a non negative integer"
    if op == "pattern":
        if not isinstance(args, str):
            return "expects a regular expression string"
        try:
            re.compile(args)
        except re.error as exc:
            return f"invalid regular expression: {exc}"
    return None


def _describe(op: str, args: Any) -> str:
    if isinstance(args, list):
        return f"{op}({', '.join(str(a) for a in args)})"
    return f"{op}({args})"


def violated(value: Any, constraint: dict[str, Any]) -> str | None:
    """None if `value` satisfies the constraint, else the constraint's text."""
    op = next(k for k in constraint if k != "error_message")
    args = constraint[op]
    try:
        ok = _holds(op, args, value)
    except TypeError:
        ok = False
    return None if ok else _describe(op, args)


def _holds(op: str, args: Any, value: Any) -> bool:
    if op == "equal":
        return bool(value == args)
    if op == "greater_than":
        return bool(value > args)
    if op == "greater_or_equal":
        return bool(value >= args)
    if op == "less_than":
        return bool(value < args)
    if op == "less_or_equal":
        return bool(value <= args)
    if op == "in_range":
        return bool(args[0] <= value <= args[1])
    if op == "valid_values":
        return value in args
    if op == "length":
        return len(value) == args
    if op == "min_length":
        return len(value) >= args
    if op == "max_length":
        return len(value) <= args
    if op == "pattern":
        return isinstance(value, str) and re.match(args, value) is not None
    return True  # data-based constraints are checked by the manager, not here


def check_value(
    value: Any,
    constraints: list[dict[str, Any]],
    name: str,
    *,
    item_wise: bool = False,
    use_error_message: bool = True,
    noun: str = "input",
) -> list[str]:
    """Messages for every violated constraint (per item when the input is a typed list)."""
    values = value if item_wise and isinstance(value, list) else [value]
    messages = []
    for constraint in constraints:
        for v in values:
            text = violated(v, constraint)
            if text is not None:
                custom = constraint.get("error_message") if use_error_message else None
                messages.append(custom or f"Value {v} of {noun} {name} violates constraint {text}.")
                break
    return messages
