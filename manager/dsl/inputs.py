"""Blueprint inputs (§5): their definitions at parse time, their values at deployment time."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from .constraints import check_value, parse_constraints
from .datatypes import DataType, TypeChecker
from .functions import Evaluator, Scope, function_of, has_functions
from .issues import DslError, Issues, Pos
from .loader import plain, pos_of, report_unknown_keys
from .merge import Merged
from .namespaces import OBJECT_TYPES, PRIMITIVES
from .versions import Gate

INPUT_KEYS = frozenset(
    {
        "description",
        "type",
        "item_type",
        "default",
        "required",
        "constraints",
        "display_label",
        "hidden",
        "display",
    }
)
_INT = re.compile(r"^[+-]?\d+$")


class InputsError(DslError):
    """Deployment inputs were rejected; `error_code` is the Cloudify REST code."""

    error_code = "bad_parameters_error"


class MissingRequiredInputError(InputsError):
    error_code = "missing_required_deployment_input_error"


class UnknownInputError(InputsError):
    error_code = "unknown_deployment_input_error"


class InputValidationError(InputsError):
    error_code = "bad_parameters_error"


class InputConstraintError(InputsError):
    error_code = "bad_parameters_error"


def parse_inputs(
    section: dict[str, Any],
    merged: Merged,
    checker: TypeChecker,
    gate: Gate,
    issues: Issues,
    *,
    what: str = "input",
    section_name: str = "inputs",
) -> dict[str, dict[str, Any]]:
    """Validates input (or workflow parameter) definitions; returns them as plain dicts."""
    out: dict[str, dict[str, Any]] = {}
    for name, raw in section.items():
        at = merged.pos(section_name, name) if section_name == "inputs" else pos_of(section, name)
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            issues.add("invalid_definition", f"{what.capitalize()} '{name}' must be a dict", at)
            continue
        report_unknown_keys(raw, INPUT_KEYS, f"{what} '{name}'", issues, at)
        for key, version in (("display_label", (1, 3)), ("hidden", (1, 3)), ("item_type", (1, 4))):
            if key in raw:
                gate.require(version, f"{what} '{key}'", pos_of(raw, key, at))
        type_name = raw.get("type")
        if type_name is not None:
            if type_name in OBJECT_TYPES:
                gate.require((1, 4), f"{what} type '{type_name}'", pos_of(raw, "type", at))
            elif type_name == "operation_name":
                gate.require((1, 5), f"{what} type 'operation_name'", pos_of(raw, "type", at))
            elif not checker.known(type_name):
                issues.add(
                    "unknown_input_type",
                    f"Illegal type name '{type_name}' of {what} '{name}'",
                    pos_of(raw, "type", at),
                )
        item_type = raw.get("item_type")
        if item_type is not None:
            if type_name != "list":
                issues.add(
                    "invalid_item_type",
                    f"{what.capitalize()} '{name}' declares item_type but its type is not list",
                    pos_of(raw, "item_type", at),
                )
            elif not checker.known(item_type):
                issues.add(
                    "unknown_input_type",
                    f"Illegal item_type '{item_type}' of {what} '{name}'",
                    pos_of(raw, "item_type", at),
                )
        constraints = parse_constraints(
            raw.get("constraints"), f"{what} '{name}'", issues, pos_of(raw, "constraints", at), gate
        )
        default = raw.get("default")
        required = raw.get("required", True)
        if raw.get("hidden") is True and required is not False and default is None:
            issues.add(
                "hidden_input_without_default",
                f"{what.capitalize()} '{name}' is hidden and required, so it must have a "
                "default value",
                at,
            )
        if default is not None:
            dat = pos_of(raw, "default", at)
            if has_functions(default):
                if constraints:
                    issues.add(
                        "input_function_with_constraints",
                        f"{what.capitalize()} '{name}' has a default that is an intrinsic "
                        "function, so it cannot have constraints",
                        dat,
                    )
            else:
                checker.check(default, type_name, f"{what} '{name}' default", dat, item_type)
                for message in check_value(default, constraints, name, item_wise=bool(item_type)):
                    issues.add(
                        "input_constraint_violated",
                        f"Default value of {what} '{name}' is invalid: {message}",
                        dat,
                    )
        definition = plain(raw)
        if "constraints" in raw:
            definition["constraints"] = constraints
        out[name] = definition
    return out


# ----- deployment time -------------------------------------------------------------------


def coerce_value(value: Any, type_name: str | None, item_type: str | None = None) -> Any:
    """CLI strings to the declared type (list items to `item_type`)."""
    value = _coerce(value, type_name)
    if item_type and isinstance(value, list):
        value = [_coerce(v, item_type) for v in value]
    return value


def _coerce(value: Any, type_name: str | None) -> Any:
    """Strings from the CLI (`-i x=5`) become the declared type when they parse as it."""
    if not isinstance(value, str) or type_name is None:
        return value
    if type_name == "integer" and _INT.match(value.strip()):
        return int(value)
    if type_name == "float":
        try:
            return float(value)
        except ValueError:
            return value
    if type_name == "boolean" and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if type_name in ("list", "dict") or type_name not in PRIMITIVES:
        try:
            parsed = json.loads(value)
        except ValueError:
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                return value
        if type_name == "list" and isinstance(parsed, list):
            return parsed
        if type_name != "list" and isinstance(parsed, dict):
            return parsed
    return value


def _data_type_defaults(type_name: Any, data_types: dict[str, DataType]) -> Any:
    """What cloudify makes of an omitted input typed by a data type: the data type's
    defaults when they make a complete, non-empty value; else None (the input is missing)."""
    found = Issues()
    value = TypeChecker(data_types, found).check({}, type_name, "input", Pos())
    return value if value and not found else None


def prepare_inputs(
    plan: dict[str, Any], raw_inputs: dict[str, Any] | None, *, coerce: bool = True
) -> dict[str, Any]:
    """Checks and completes deployment inputs against `plan["inputs"]` (§5).

    Raises UnknownInputError, MissingRequiredInputError, InputValidationError or
    InputConstraintError naming every culprit of the first failing category.
    """
    definitions: dict[str, dict[str, Any]] = plan.get("inputs") or {}
    raw_inputs = dict(raw_inputs or {})
    unknown = [k for k in raw_inputs if k not in definitions]
    if unknown:
        names = ", ".join(f"'{k}'" for k in unknown)
        raise UnknownInputError(f"Unknown input(s) specified: {names}")
    data_types = {
        name: DataType(name, d.get("properties") or {})
        for name, d in (plan.get("data_types") or {}).items()
    }
    values: dict[str, Any] = {}
    missing = []
    for name, definition in definitions.items():
        type_name = definition.get("type")
        if name in raw_inputs:
            value = raw_inputs[name]
        elif definition.get("default") is not None:
            value = definition["default"]
        elif (
            type_name in data_types
            and (defaults := _data_type_defaults(type_name, data_types)) is not None
        ):
            value = defaults
        elif definition.get("required", True):
            missing.append(name)
            continue
        else:
            values[name] = None
            continue
        values[name] = value
    if missing:
        names = ", ".join(f"'{n}'" for n in missing)
        raise MissingRequiredInputError(
            f"Required inputs {names} were not specified - expected inputs: "
            f"{', '.join(definitions)}"
        )
    # defaults may reference other inputs (get_input in a default)
    evaluator = Evaluator(inputs=values)
    for name, value in values.items():
        if has_functions(value):
            values[name] = evaluator.evaluate(value, Scope(kind="input"))
    type_errors: list[str] = []
    constraint_errors: list[str] = []
    for name, definition in definitions.items():
        if name not in values or values[name] is None:
            continue
        type_name = definition.get("type")
        item_type = definition.get("item_type")
        value = values[name]
        if coerce:
            value = coerce_value(value, type_name, item_type)
        if function_of(value) is None and not has_functions(value):
            issues = Issues()
            value = TypeChecker(data_types, issues).check(
                value, type_name, f"input '{name}'", Pos(), item_type
            )
            for issue in issues.items:
                type_errors.append(issue.message)
            if not issues:
                # error_message is consumed by the parse-time default check (§24 #13)
                has_default = definition.get("default") is not None
                constraint_errors.extend(
                    check_value(
                        value,
                        definition.get("constraints") or [],
                        name,
                        item_wise=bool(item_type),
                        use_error_message=not has_default,
                    )
                )
        values[name] = value
    if type_errors:
        raise InputValidationError("; ".join(type_errors))
    if constraint_errors:
        raise InputConstraintError("; ".join(constraint_errors))
    return values
