"""parse_blueprint: load, merge, validate every section and assemble the plan (§19.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .datatypes import TypeChecker, resolve_data_types
from .function_refs import FunctionChecker
from .functions import function_of, has_functions
from .groups import parse_groups, parse_policies
from .imports import LoadedBlueprint, load_blueprint
from .inputs import parse_inputs
from .issues import Issues, Pos
from .loader import gc_paused, plain, pos_of, report_unknown_keys
from .merge import Merged, merge_files
from .node_types import resolve_types
from .operations import OpContext, local_resource_checker
from .plugins import parse_plugins
from .requirements import find_requirements
from .resolver import ImportResolver
from .templates import NodeBuilder
from .versions import Gate, plan_version
from .workflows import parse_workflows

_SECTION_GATES = {
    "description": (1, 2),
    "data_types": (1, 2),
    "policies": (1, 3),
    "resource_tags": (1, 3),
}


def parse_blueprint(
    root: Path | str, main_file: str, resolver: ImportResolver | None = None
) -> dict[str, Any]:
    """Parses the blueprint `main_file` inside directory `root` into its plan.

    Raises BlueprintInvalid listing every issue found.
    """
    root = Path(root)
    issues = Issues()
    main_path = (root / main_file).resolve()
    if not main_path.is_relative_to(root.resolve()):
        issues.add(
            "import_escapes_root",
            f"'{main_file}' is outside the blueprint directory",
            Pos(main_file),
        )
        issues.raise_if_any()
    try:
        text = main_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        issues.add("main_file_not_found", f"{main_file} cannot be read: {exc}", Pos(main_file))
        issues.raise_if_any()
    return _parse(root, main_file, text, resolver, issues)


def parse_text(
    text: str,
    *,
    main_file: str = "blueprint.yaml",
    root: Path | str | None = None,
    resolver: ImportResolver | None = None,
) -> dict[str, Any]:
    """Parses blueprint text; relative imports and scripts resolve inside `root` if given."""
    return _parse(Path(root) if root is not None else None, main_file, text, resolver, Issues())


def _parse(
    root: Path | None, main_file: str, text: str, resolver: ImportResolver | None, issues: Issues
) -> dict[str, Any]:
    with gc_paused():
        loaded = load_blueprint(root, main_file, text, resolver, issues)
        if loaded is None:
            issues.raise_if_any()
            raise AssertionError("unreachable: no blueprint and no issue")
        merged = merge_files(loaded, issues)
        plan = _build(root, loaded, merged, issues)
    issues.raise_if_any()
    return plan


def _gates(loaded: LoadedBlueprint, gate: Gate) -> None:
    for source in loaded.files:
        doc = source.doc
        if "dsl_definitions" in doc:
            gate.require((1, 2), "dsl_definitions", doc.key_pos("dsl_definitions"))
        if source.basic_types:
            continue
        for section, version in _SECTION_GATES.items():
            if section in doc:
                gate.require(version, f"'{section}'", doc.key_pos(section))


def _named_values(merged: Merged, section: str, issues: Issues) -> dict[str, Any]:
    """outputs / capabilities: {name: {description, value}}."""
    out = {}
    for name, raw in merged.dict_section(section).items():
        at = merged.pos(section, name)
        if not isinstance(raw, dict):
            issues.add(
                "invalid_definition", f"{section[:-1].capitalize()} '{name}' must be a dict", at
            )
            continue
        report_unknown_keys(raw, ("description", "value"), f"{section} '{name}'", issues, at)
        if "value" not in raw:
            issues.add(
                "missing_value", f"{section[:-1].capitalize()} '{name}' must declare a 'value'", at
            )
            continue
        entry = {"value": plain(raw["value"])}
        if "description" in raw:
            entry["description"] = raw["description"]
        out[name] = entry
    return out


def _labels(merged: Merged, section: str, issues: Issues, *, strings_only: bool) -> dict[str, Any]:
    out = {}
    for key, raw in merged.dict_section(section).items():
        at = merged.pos(section, key)
        values = raw.get("values") if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or set(raw) != {"values"} or not isinstance(values, list):
            issues.add("invalid_label", f"Label '{key}' in {section} must be {{values: [...]}}", at)
            continue
        for index, value in enumerate(values):
            ok = isinstance(value, str) or (not strings_only and function_of(value) is not None)
            if not ok:
                issues.add(
                    "invalid_label",
                    f"Value {plain(value)!r} of label '{key}' in {section} must be a string",
                    pos_of(values, index, at),
                )
        out[key] = {"values": plain(values)}
    return out


_SETTINGS_KEYS = ("default_schedules", "default_groups", "id_template", "display_name")


def _deployment_settings(merged: Merged, issues: Issues) -> dict[str, Any]:
    raw = merged.get("deployment_settings")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        issues.add("invalid_section", "'deployment_settings' must be a dict")
        return {}
    report_unknown_keys(raw, _SETTINGS_KEYS, "deployment_settings", issues, Pos())
    settings = dict(plain(raw))
    if settings.get("default_schedules") is None:
        settings["default_schedules"] = {}  # cloudify lists it even when not given
    return settings


def _build(
    root: Path | None, loaded: LoadedBlueprint, merged: Merged, issues: Issues
) -> dict[str, Any]:
    gate = Gate(loaded.version, issues)
    _gates(loaded, gate)
    data_types = resolve_data_types(merged.dict_section("data_types"), merged, issues)
    checker = TypeChecker(data_types, issues)
    plugins = parse_plugins(merged, gate, issues)
    blueprint_ns = frozenset(loaded.namespaces_mapping)
    ctx = OpContext(
        plugins,
        local_resource_checker(str(root) if root else None, blueprint_ns),
        blueprint_ns,
        issues,
        gate,
    )
    node_types = resolve_types("node_types", merged, checker, ctx, issues)
    rel_types = resolve_types("relationships", merged, checker, ctx, issues)
    inputs = parse_inputs(merged.dict_section("inputs"), merged, checker, gate, issues)
    nodes = NodeBuilder(merged, node_types, rel_types, checker, ctx, gate, issues).build()
    nodes_by_name = {n["id"]: n for n in nodes}
    workflows = parse_workflows(merged, ctx, checker, gate, issues)
    groups = parse_groups(merged, set(nodes_by_name), issues)
    policies, scaling_groups = parse_policies(merged, groups, nodes_by_name, gate, issues)
    outputs = _named_values(merged, "outputs", issues)
    capabilities = _named_values(merged, "capabilities", issues)
    labels = _labels(merged, "labels", issues, strings_only=False)
    blueprint_labels = _labels(merged, "blueprint_labels", issues, strings_only=True)
    description = merged.get("description")
    if description is not None and not isinstance(description, str):
        issues.add("invalid_section", "'description' must be a string")
    deployment_settings = _deployment_settings(merged, issues)
    _check_functions(
        merged,
        inputs,
        nodes_by_name,
        outputs,
        capabilities,
        labels,
        policies,
        deployment_settings,
        issues,
    )

    used_workflow_plugins = {w["plugin"] for w in workflows.values()}
    workflow_plugins = [plugins[p] for p in plugins if p in used_workflow_plugins]
    deployment_plugins: dict[str, Any] = {}
    host_plugins: dict[str, Any] = {}
    for node in nodes:
        for plugin in node["deployment_plugins_to_install"]:
            deployment_plugins.setdefault(plugin["name"], plugin)
        for plugin in node.get("plugins_to_install", []):
            host_plugins.setdefault(plugin["name"], plugin)
    return {
        "description": description,
        "metadata": plain(merged.get("metadata")),
        "version": plan_version(loaded.version_raw, loaded.version),
        "inputs": inputs,
        "outputs": outputs,
        "capabilities": capabilities,
        "data_types": {name: dt.plan_entry() for name, dt in data_types.items()},
        "nodes": nodes,
        "relationships": {
            name: {
                "name": name,
                **({"derived_from": t.derived_from} if t.derived_from is not None else {}),
                "type_hierarchy": t.hierarchy,
                "properties": plain(t.properties),
                "source_interfaces": _type_interfaces(t.interfaces, "source_interfaces"),
                "target_interfaces": _type_interfaces(t.interfaces, "target_interfaces"),
            }
            for name, t in rel_types.items()
        },
        "workflows": workflows,
        "deployment_plugins_to_install": list(deployment_plugins.values()),
        "host_agent_plugins_to_install": list(host_plugins.values()),
        "workflow_plugins_to_install": workflow_plugins,
        "groups": groups,
        "policies": policies,
        "policy_types": plain(merged.dict_section("policy_types")),
        "policy_triggers": plain(merged.dict_section("policy_triggers")),
        "scaling_groups": scaling_groups,
        "labels": labels,
        "blueprint_labels": blueprint_labels,
        "resource_tags": plain(merged.get("resource_tags")) or {},
        "deployment_settings": deployment_settings,
        "imported_blueprints": list(loaded.imported_blueprints),
        "namespaces_mapping": dict(loaded.namespaces_mapping),
        "requirements": find_requirements(
            nodes, outputs, policies, scaling_groups, capabilities, labels, deployment_settings
        ),
    }


def _type_interfaces(interfaces: dict[str, Any], key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for iname, ops in interfaces.get(key, {}).items():
        out[iname] = {
            oname: {k: plain(v) for k, v in op.items() if k not in ("explicit", "empty")}
            for oname, op in ops.items()
        }
    return out


def _check_functions(
    merged: Merged,
    inputs: dict[str, Any],
    nodes: dict[str, Any],
    outputs: dict[str, Any],
    capabilities: dict[str, Any],
    labels: dict[str, Any],
    policies: dict[str, Any],
    settings: dict[str, Any],
    issues: Issues,
) -> None:
    fc = FunctionChecker(inputs, nodes, issues)
    for name, node in nodes.items():
        at = merged.pos("node_templates", name)
        if has_functions(node["properties"]):
            fc.check(node["properties"], "node", f"properties of node '{name}'", at, name)
        for op_name, op in node["operations"].items():
            if op["has_intrinsic_functions"] and "." in op_name:
                fc.check(
                    op["inputs"],
                    "node",
                    f"inputs of operation '{op_name}' of node '{name}'",
                    at,
                    name,
                )
        scalable = node["capabilities"]["scalable"]["properties"]
        if has_functions(scalable):
            fc.check(scalable, "node", f"capabilities of node '{name}'", at, name)
        for rel in node["relationships"]:
            where = f"relationship '{rel['type']}' of node '{name}'"
            if has_functions(rel["properties"]):
                fc.check(rel["properties"], "relationship", where, at, name)
            for side in ("source_operations", "target_operations"):
                for op_name, op in rel[side].items():
                    if op["has_intrinsic_functions"] and "." in op_name:
                        fc.check(
                            op["inputs"],
                            "relationship",
                            f"inputs of operation '{op_name}' of {where}",
                            at,
                        )
                        fc.check_relationship_property(
                            op["inputs"],
                            name,
                            rel["target_id"],
                            f"operation '{op_name}' of {where}",
                            at,
                        )
    for section, values in (("outputs", outputs), ("capabilities", capabilities)):
        for name, entry in values.items():
            fc.check(
                entry["value"], "output", f"{section[:-1]} '{name}'", merged.pos(section, name)
            )
    for key, entry in labels.items():
        fc.check(entry["values"], "label", f"label '{key}'", merged.pos("labels", key))
    for name, policy in policies.items():
        fc.check(policy["properties"], "other", f"policy '{name}'", merged.pos("policies", name))
    fc.check(settings, "other", "deployment_settings", Pos())
    for name, definition in inputs.items():
        if "default" in definition:
            fc.check(
                definition["default"],
                "input",
                f"default of input '{name}'",
                merged.pos("inputs", name),
            )
