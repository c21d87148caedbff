"""Node types and relationship types (§8, §9): inheritance of properties and interfaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .datatypes import TypeChecker, check_schema, merge_schemas, report_unknown_defaults
from .issues import Issues
from .loader import pos_of, report_unknown_keys
from .merge import Merged
from .operations import OpContext, merge_type_interfaces, normalize_interfaces

NODE_TYPE_KEYS = frozenset({"derived_from", "properties", "interfaces", "runtime_properties"})
RELATIONSHIP_KEYS = frozenset(
    {"derived_from", "properties", "source_interfaces", "target_interfaces"}
)
INTERFACE_KEYS = {
    "node_types": ("interfaces",),
    "relationships": ("source_interfaces", "target_interfaces"),
}


@dataclass
class ResolvedType:
    name: str
    hierarchy: list[str]
    properties: dict[str, dict[str, Any]]
    interfaces: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    runtime_properties: Any = None
    derived_from: Any = None


def resolve_types(
    section_name: str, merged: Merged, checker: TypeChecker, ctx: OpContext, issues: Issues
) -> dict[str, ResolvedType]:
    """Resolves every type of `node_types` or `relationships` (kind = section name)."""
    section = merged.dict_section(section_name)
    kind = "node type" if section_name == "node_types" else "relationship"
    allowed = NODE_TYPE_KEYS if section_name == "node_types" else RELATIONSHIP_KEYS
    resolved: dict[str, ResolvedType] = {}
    visiting: set[str] = set()
    failed: set[str] = set()

    def resolve(name: str) -> ResolvedType | None:
        if name in resolved:
            return resolved[name]
        if name in failed:
            return None
        at = merged.pos(section_name, name)
        if name in visiting:
            issues.add(
                "cyclic_derivation",
                f"{kind.capitalize()} '{name}' derives from itself (circular derived_from)",
                at,
            )
            failed.add(name)
            return None
        raw = section[name]
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            issues.add("invalid_definition", f"{kind.capitalize()} '{name}' must be a dict", at)
            failed.add(name)
            return None
        report_unknown_keys(raw, allowed, f"{kind} '{name}'", issues, at)
        if "runtime_properties" in raw and ctx.gate is not None:
            # declared in 1_5, but 7.0.5 accepts it from 1_4 (§24 #14)
            ctx.gate.require(
                (1, 4), "node type runtime_properties", pos_of(raw, "runtime_properties", at)
            )
        visiting.add(name)
        props = check_schema(raw.get("properties"), f"{kind} '{name}'", issues, at)
        interfaces = {
            key: normalize_interfaces(
                raw.get(key), typed=True, owner=f"{kind} '{name}'", ctx=ctx, at=pos_of(raw, key, at)
            )
            for key in INTERFACE_KEYS[section_name]
        }
        hierarchy = [name]
        parent_name = raw.get("derived_from")
        parent: ResolvedType | None = None
        if parent_name is not None:
            if not isinstance(parent_name, str):
                issues.add(
                    "invalid_definition",
                    f"derived_from of {kind} '{name}' must be a string",
                    pos_of(raw, "derived_from", at),
                )
            elif parent_name not in section:
                issues.add(
                    "unknown_derived_from",
                    f"Missing definition for {kind} '{parent_name}' which is declared "
                    f"as derived by {kind} '{name}'",
                    pos_of(raw, "derived_from", at),
                )
            else:
                parent = resolve(parent_name)
            if parent is not None:
                hierarchy = [*parent.hierarchy, name]
                interfaces = {
                    key: merge_type_interfaces(parent.interfaces.get(key, {}), value)
                    for key, value in interfaces.items()
                }
        visiting.discard(name)
        unknown: list[str] = []
        props = merge_schemas(
            parent.properties if parent is not None else {}, props, checker.data_types, unknown
        )
        report_unknown_defaults(unknown, f"{kind} '{name}'", issues, at)
        for pname, pdef in props.items():
            for key in ("type", "item_type"):
                if not checker.known(pdef.get(key)):
                    issues.add(
                        "unknown_data_type",
                        f"Illegal type name '{pdef.get(key)}' for property '{pname}' of "
                        f"{kind} '{name}'",
                        at,
                    )
        result = ResolvedType(
            name, hierarchy, props, interfaces, raw.get("runtime_properties"), parent_name
        )
        resolved[name] = result
        return result

    for name in section:
        resolve(name)
    return resolved
