"""The `workflows` section (§13): mappings, parameters and availability rules."""

from __future__ import annotations

from typing import Any

from .datatypes import TypeChecker
from .inputs import parse_inputs
from .issues import Issues
from .loader import plain, pos_of, report_unknown_keys
from .merge import Merged
from .operations import OpContext, build_operation
from .versions import Gate

WORKFLOW_KEYS = frozenset({"mapping", "parameters", "is_cascading", "availability_rules"})
RULE_KEYS = frozenset({"available", "node_instances_active", "node_types_required"})
ACTIVE_VALUES = ("all", "partial", "none")


def parse_workflows(
    merged: Merged, ctx: OpContext, checker: TypeChecker, gate: Gate, issues: Issues
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, raw in merged.dict_section("workflows").items():
        at = merged.pos("workflows", name)
        if isinstance(raw, str):
            raw = {"mapping": raw}
        if not isinstance(raw, dict):
            issues.add("invalid_definition", f"Workflow '{name}' must be a string or a dict", at)
            continue
        report_unknown_keys(raw, WORKFLOW_KEYS, f"workflow '{name}'", issues, at)
        mapping = raw.get("mapping")
        if not isinstance(mapping, str) or not mapping:
            issues.add(
                "missing_workflow_mapping", f"Workflow '{name}' must declare a 'mapping' string", at
            )
            continue
        params_raw = raw.get("parameters") or {}
        if not isinstance(params_raw, dict):
            issues.add(
                "invalid_definition",
                f"parameters of workflow '{name}' must be a dict",
                pos_of(raw, "parameters", at),
            )
            params_raw = {}
        parameters = parse_inputs(
            params_raw,
            merged,
            checker,
            gate,
            issues,
            what=f"parameter of workflow '{name}'",
            section_name="workflows.parameters",
        )
        op = build_operation(
            name,
            {
                "implementation": mapping,
                "inputs": {},
                "executor": None,
                "max_retries": None,
                "retry_interval": None,
                "timeout": None,
                "timeout_recoverable": None,
            },
            ctx,
            f"in workflow '{name}'",
            pos_of(raw, "mapping", at),
            workflow=True,
        )
        if op is None:
            continue
        for key in ("script_path", "script_source"):
            if key in op["inputs"]:
                parameters[key] = {
                    "default": op["inputs"][key],
                    "description": "Workflow script executed by the script plugin",
                }
        cascading = raw.get("is_cascading", False)
        if not isinstance(cascading, bool):
            issues.add(
                "invalid_definition",
                f"is_cascading of workflow '{name}' must be a boolean",
                pos_of(raw, "is_cascading", at),
            )
        workflow = {
            "plugin": op["plugin"],
            "operation": op["operation"],
            "parameters": parameters,
            "is_cascading": cascading is True,
        }
        rules = raw.get("availability_rules")
        if rules is not None:
            rat = pos_of(raw, "availability_rules", at)
            gate.require((1, 4), "workflow availability_rules", rat)
            workflow["availability_rules"] = _rules(rules, name, issues, rat)
        else:
            workflow["availability_rules"] = None
        out[name] = workflow
    return out


def _rules(rules: Any, name: str, issues: Issues, at: Any) -> Any:
    if not isinstance(rules, dict):
        issues.add(
            "invalid_availability_rules",
            f"availability_rules of workflow '{name}' must be a dict",
            at,
        )
        return None
    for key, value in rules.items():
        kat = pos_of(rules, key, at)
        if key not in RULE_KEYS:
            issues.add(
                "unknown_key",
                f"'{key}' is not in schema (availability_rules of workflow '{name}')",
                kat,
            )
        elif key == "available" and not isinstance(value, bool):
            issues.add(
                "invalid_availability_rules",
                f"availability_rules.available of workflow '{name}' must be a boolean",
                kat,
            )
        elif key == "node_instances_active" and (
            not isinstance(value, list) or any(v not in ACTIVE_VALUES for v in value)
        ):
            issues.add(
                "invalid_availability_rules",
                f"availability_rules.node_instances_active of workflow '{name}' must be "
                f"a list of {', '.join(ACTIVE_VALUES)}",
                kat,
            )
        elif key == "node_types_required" and (
            not isinstance(value, list) or any(not isinstance(v, str) for v in value)
        ):
            issues.add(
                "invalid_availability_rules",
                f"availability_rules.node_types_required of workflow '{name}' must be a "
                "list of node type names",
                kat,
            )
    return plain(rules)
