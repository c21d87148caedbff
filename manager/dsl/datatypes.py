"""Property schemas, data types (§7) and checking values against their declared types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .constraints import check_value, parse_constraints
from .functions import function_of, has_functions
from .issues import Issues, Pos
from .loader import YDict, pos_of
from .namespaces import PRIMITIVES

PROPERTY_KEYS = frozenset(
    {
        "type",
        "default",
        "required",
        "description",
        "display_label",
        "hidden",
        "constraints",
        "item_type",
    }
)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_PRIMITIVE_CHECKS = {
    "integer": _is_int,
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}


@dataclass
class DataType:
    name: str
    properties: dict[str, dict[str, Any]]
    derived_from: str | None = None
    hierarchy: list[str] = field(default_factory=list)


def deep_merge(base: Any, override: Any) -> Any:
    """Nested dict merge where `override` wins; anything else is replaced whole."""
    if isinstance(base, dict) and isinstance(override, dict) and function_of(override) is None:
        out = dict(base)
        for k, v in override.items():
            out[k] = deep_merge(base[k], v) if k in base else v
        return out
    return override


def check_schema(schema: Any, owner: str, issues: Issues, at: Pos) -> dict[str, dict[str, Any]]:
    """Validates the shape of a `properties`-like schema; returns it as name → definition."""
    if schema is None:
        return {}
    if not isinstance(schema, dict):
        issues.add("invalid_schema", f"properties of {owner} must be a dict", at)
        return {}
    out = {}
    for name, prop in schema.items():
        if prop is None:
            prop = {}
        if not isinstance(prop, dict):
            issues.add(
                "invalid_schema",
                f"property '{name}' of {owner} must be a dict",
                pos_of(schema, name, at),
            )
            continue
        for key in prop:
            if key not in PROPERTY_KEYS:
                issues.add(
                    "unknown_key",
                    f"'{key}' is not in schema (property '{name}' of {owner})",
                    prop.key_pos(key) if isinstance(prop, YDict) else at,
                )
        if "constraints" in prop:
            valid = parse_constraints(
                prop["constraints"],
                f"property '{name}' of {owner}",
                issues,
                pos_of(prop, "constraints", at),
                _ANY_VERSION,
            )
            prop = {**prop, "constraints": valid}
        out[name] = prop
    return out


class _AnyVersion:
    """Constraint shapes in type schemas are checked regardless of version gates."""

    def require(self, *args: Any) -> bool:
        return True


_ANY_VERSION = _AnyVersion()


def constraint_messages(value: Any, prop: dict[str, Any], name: str) -> list[str]:
    """Violations of a property's `constraints` by a literal value."""
    constraints = prop.get("constraints")
    if not constraints or value is None or has_functions(value):
        return []
    return check_value(
        value, constraints, name, item_wise=bool(prop.get("item_type")), noun="property"
    )


class TypeChecker:
    """Checks values against primitive and data types, filling data-type defaults."""

    def __init__(self, data_types: dict[str, DataType], issues: Issues) -> None:
        self.data_types = data_types
        self.issues = issues

    def known(self, type_name: Any) -> bool:
        if type_name is None:
            return True
        return isinstance(type_name, str) and (
            type_name in PRIMITIVES or type_name in self.data_types
        )

    def check(
        self, value: Any, type_name: str | None, what: str, at: Pos, item_type: str | None = None
    ) -> Any:
        """Returns the value (data-type values completed with their defaults)."""
        if not isinstance(type_name, str) or value is None or function_of(value) is not None:
            return value
        check = _PRIMITIVE_CHECKS.get(type_name)
        if check is not None:
            if not check(value):
                self.issues.add(
                    "invalid_property_value",
                    f"Property type validation failed in {what}: type is "
                    f"'{type_name}', yet it was assigned with the value {value!r}",
                    at,
                )
                return value
            if type_name == "list" and item_type:
                return [
                    self.check(v, item_type, f"{what}[{i}]", pos_of(value, i, at))
                    for i, v in enumerate(value)
                ]
            return value
        dt = self.data_types.get(type_name)
        if dt is None:
            return value  # string, textarea, regex and object types accept anything
        if not isinstance(value, dict):
            self.issues.add(
                "invalid_property_value",
                f"Property type validation failed in {what}: type is "
                f"'{type_name}', yet it was assigned with the value {value!r}",
                at,
            )
            return value
        return self.complete(value, dt.properties, f"{what} (data type '{type_name}')", at)

    def complete(
        self, value: dict, schema: dict[str, dict[str, Any]], what: str, at: Pos
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in value:
            if key not in schema:
                self.issues.add(
                    "unknown_property",
                    f"Undefined property '{key}' in {what}",
                    value.key_pos(key) if isinstance(value, YDict) else at,
                )
        for name, prop in schema.items():
            ptype = prop.get("type")
            if name in value:
                v = value[name]
                if "default" in prop and ptype in self.data_types:
                    v = deep_merge(prop["default"], v)
                out[name] = self.check(
                    v,
                    ptype,
                    f"{what} property '{name}'",
                    pos_of(value, name, at),
                    prop.get("item_type"),
                )
                for message in constraint_messages(out[name], prop, name):
                    self.issues.add(
                        "property_constraint_violated",
                        f"{what}: {message}",
                        pos_of(value, name, at),
                    )
            elif "default" in prop:
                out[name] = self.check(
                    prop["default"], ptype, f"{what} property '{name}'", at, prop.get("item_type")
                )
            elif prop.get("required", True):
                self.issues.add(
                    "missing_property", f"Value of property '{name}' is missing in {what}", at
                )
        return out


def resolve_data_types(
    section: dict[str, Any], positions: Any, issues: Issues
) -> dict[str, DataType]:
    """Inheritance of data types: properties merge per property, nested defaults deep-merge."""
    resolved: dict[str, DataType] = {}
    visiting: set[str] = set()

    def resolve(name: str) -> DataType | None:
        if name in resolved:
            return resolved[name]
        raw = section[name]
        at = positions.pos("data_types", name)
        if name in visiting:
            issues.add("cyclic_derivation", f"Data type '{name}' derives from itself", at)
            return None
        if name in PRIMITIVES:
            issues.add("redefined_primitive", f"Primitive type '{name}' cannot be redefined", at)
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            issues.add("invalid_definition", f"Data type '{name}' must be a dict", at)
            return None
        for key in raw:
            if key not in ("description", "derived_from", "version", "properties"):
                issues.add(
                    "unknown_key",
                    f"'{key}' is not in schema (data type '{name}')",
                    raw.key_pos(key) if isinstance(raw, YDict) else at,
                )
        visiting.add(name)
        props = check_schema(raw.get("properties"), f"data type '{name}'", issues, at)
        parent_name = raw.get("derived_from")
        hierarchy = [name]
        if parent_name is not None:
            if not isinstance(parent_name, str) or parent_name not in section:
                issues.add(
                    "unknown_derived_from",
                    f"Missing definition for data type '{parent_name}' which is "
                    f"declared as derived by data type '{name}'",
                    pos_of(raw, "derived_from", at),
                )
            else:
                parent = resolve(parent_name)
                if parent is not None:
                    merged = dict(parent.properties)
                    for pname, pdef in props.items():
                        old = merged.get(pname)
                        if (
                            old is not None
                            and "default" in old
                            and "default" in pdef
                            and old.get("type") == pdef.get("type")
                        ):
                            pdef = {**pdef, "default": deep_merge(old["default"], pdef["default"])}
                        merged[pname] = pdef
                    props = merged
                    hierarchy = [*parent.hierarchy, name]
        visiting.discard(name)
        dt = DataType(name, props, parent_name, hierarchy)
        resolved[name] = dt
        return dt

    for name in section:
        resolve(name)
    checker = TypeChecker(resolved, issues)
    for name, dt in resolved.items():
        for pname, pdef in dt.properties.items():
            for key in ("type", "item_type"):
                if not checker.known(pdef.get(key)):
                    issues.add(
                        "unknown_data_type",
                        f"Illegal type name '{pdef.get(key)}' for property '{pname}' "
                        f"of data type '{name}'",
                        positions.pos("data_types", name),
                    )
    return resolved
