"""Workflow parameters at execution start (§13): missing, undeclared, typed, constrained."""

from __future__ import annotations

from typing import Any

from .constraints import check_value
from .datatypes import DataType, TypeChecker
from .functions import has_functions
from .inputs import InputsError, coerce_value
from .issues import Issues, Pos


class ExecutionParametersError(InputsError):
    """Parameters of an execution were rejected (Cloudify's IllegalExecutionParametersError)."""

    error_code = "illegal_execution_parameters_error"


def prepare_workflow_parameters(
    workflow_id: str,
    workflow: dict[str, Any],
    parameters: dict[str, Any] | None,
    *,
    allow_custom_parameters: bool = False,
    data_types: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The parameters an execution of `workflow` (a plan workflow entry) runs with.

    A declared parameter without a `default` key is mandatory unless `required: false`;
    defaults that are intrinsic functions are returned as they are (the caller evaluates
    them with `evaluate_functions`).
    """
    declared: dict[str, dict[str, Any]] = workflow.get("parameters") or {}
    given = dict(parameters or {})
    undeclared = [k for k in given if k not in declared]
    if undeclared and not allow_custom_parameters:
        raise ExecutionParametersError(
            f'Workflow "{workflow_id}" does not have the following parameters declared: '
            f"{', '.join(undeclared)}. Remove these parameters or use the flag for allowing "
            "custom parameters"
        )
    missing = [
        k
        for k, d in declared.items()
        if k not in given and "default" not in d and d.get("required", True)
    ]
    if missing:
        raise ExecutionParametersError(
            f'Workflow "{workflow_id}" must be provided with the following parameters to '
            f"execute: {', '.join(missing)}"
        )
    types = {
        name: DataType(name, d.get("properties") or {}) for name, d in (data_types or {}).items()
    }
    result: dict[str, Any] = {}
    errors: list[str] = []
    for name, definition in declared.items():
        if name in given:
            value = coerce_value(given[name], definition.get("type"), definition.get("item_type"))
        elif "default" in definition:
            value = definition["default"]
        else:
            continue
        if value is not None and not has_functions(value):
            issues = Issues()
            value = TypeChecker(types, issues).check(
                value,
                definition.get("type"),
                f"parameter '{name}'",
                Pos(),
                definition.get("item_type"),
            )
            errors.extend(i.message for i in issues.items)
            if not issues:
                errors.extend(
                    check_value(
                        value,
                        definition.get("constraints") or [],
                        name,
                        item_wise=bool(definition.get("item_type")),
                        noun="parameter",
                    )
                )
        result[name] = value
    if errors:
        raise ExecutionParametersError("; ".join(errors))
    for name in undeclared:
        result[name] = given[name]
    return result
