"""Property schemas, data types (§7) and checking values against their declared types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .constraints import check_value, parse_constraints
from .functions import function_of, has_functions
from .issues import Issues, Pos
from .loader import YDict, plain, pos_of, report_unknown_keys
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
    description: Any = None
    version: Any = None

    def plan_entry(self) -> dict[str, Any]:
        """The plan's `data_types` entry (cloudify lists every field, None when absent)."""
        return {
            "properties": plain(self.properties),
            "description": self.description,
            "derived_from": self.derived_from,
            "version": self.version,
        }


def _defaults_of(schema: dict[str, dict[str, Any]], derived: Any) -> dict[str, Any]:
    """A schema's defaults, overridden by the `derived` value a containing default gives."""
    defaults = {name: prop["default"] for name, prop in schema.items() if "default" in prop}
    if isinstance(derived, dict) and function_of(derived) is None:
        defaults.update(derived)
    return defaults


def data_default(
    value: Any,
    type_name: Any,
    data_types: dict[str, DataType],
    derived: Any = None,
    unknown: list[str] | None = None,
    path: str = "",
) -> Any:
    """`value` completed with the defaults of data type `type_name` (cloudify's parse_value
    without the missing-property check): at each data-type level the type's defaults,
    then `derived` (a containing default), then `value` win, one key at a time; keys of
    primitive types (`dict` too) are replaced whole. Keys the type does not declare are
    dropped and their paths appended to `unknown`."""
    dt = data_types.get(type_name) if isinstance(type_name, str) else None
    if dt is None or not isinstance(value, dict) or function_of(value) is not None:
        return value
    schema = dt.properties
    defaults = _defaults_of(schema, derived)
    if unknown is not None:
        unknown.extend(f"{path}{key}" for key in value if key not in schema)
    out = {}
    for name, prop in schema.items():
        if name in value or name in defaults:
            out[name] = data_default(
                value[name] if name in value else defaults[name],
                prop.get("type"),
                data_types,
                defaults.get(name),
                unknown,
                f"{path}{name}.",
            )
    return out


def merge_schemas(
    parent: dict[str, dict[str, Any]],
    own: dict[str, dict[str, Any]],
    data_types: dict[str, DataType],
    unknown: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """`own` property schemas over the inherited `parent` ones (cloudify's merge_schemas).

    A property typed by a data type always gets a default: its declared default (or {})
    completed with the data type's defaults, and with the parent's default when it
    redeclares a parent property of the same data type.
    """
    merged = dict(parent)
    for name, prop in own.items():
        ptype = prop.get("type")
        if isinstance(ptype, str) and ptype in data_types and ptype not in PRIMITIVES:
            old = parent.get(name)
            derived = (
                old["default"]
                if old is not None and old.get("type") == ptype and old.get("default") is not None
                else None
            )
            initial = prop.get("default")
            default = data_default(
                {} if initial is None else initial,
                ptype,
                data_types,
                derived,
                unknown,
                f"{name}.",
            )
            prop = {**prop, "default": default}
        merged[name] = prop
    return merged


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
        report_unknown_keys(prop, PROPERTY_KEYS, f"property '{name}' of {owner}", issues, at)
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
        self,
        value: Any,
        type_name: str | None,
        what: str,
        at: Pos,
        item_type: str | None = None,
        derived: Any = None,
    ) -> Any:
        """Returns the value (data-type values completed with their defaults, `derived` being
        the default the enclosing schema gives the value)."""
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
        return self.complete(value, dt.properties, f"{what} (data type '{type_name}')", at, derived)

    def complete(
        self,
        value: dict,
        schema: dict[str, dict[str, Any]],
        what: str,
        at: Pos,
        derived: Any = None,
    ) -> dict[str, Any]:
        defaults = _defaults_of(schema, derived)
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
                out[name] = self.check(
                    value[name],
                    ptype,
                    f"{what} property '{name}'",
                    pos_of(value, name, at),
                    prop.get("item_type"),
                    defaults.get(name),
                )
                for message in constraint_messages(out[name], prop, name):
                    self.issues.add(
                        "property_constraint_violated",
                        f"{what}: {message}",
                        pos_of(value, name, at),
                    )
            elif name in defaults:
                out[name] = self.check(
                    defaults[name],
                    ptype,
                    f"{what} property '{name}'",
                    at,
                    prop.get("item_type"),
                    defaults[name],
                )
            elif prop.get("required", True):
                self.issues.add(
                    "missing_property", f"Value of property '{name}' is missing in {what}", at
                )
        return out


def report_unknown_defaults(unknown: list[str], owner: str, issues: Issues, at: Pos) -> None:
    for path in unknown:
        issues.add(
            "unknown_property",
            f"Undefined property '{path}' in the default value of a property of {owner}",
            at,
        )


def resolve_data_types(
    section: dict[str, Any], positions: Any, issues: Issues
) -> dict[str, DataType]:
    """Inheritance of data types (properties merge per property), then the defaults of
    properties typed by data types (merge_schemas), each type after those it uses."""
    declared: dict[str, tuple[dict[str, dict[str, Any]], DataType]] = {}
    visiting: set[str] = set()

    def declare(name: str) -> DataType | None:
        """Own property schemas and the hierarchy; defaults are completed later."""
        if name in declared:
            return declared[name][1]
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
        report_unknown_keys(
            raw,
            ("description", "derived_from", "version", "properties"),
            f"data type '{name}'",
            issues,
            at,
        )
        visiting.add(name)
        own = check_schema(raw.get("properties"), f"data type '{name}'", issues, at)
        parent_name = raw.get("derived_from")
        parent: DataType | None = None
        if parent_name is not None:
            if not isinstance(parent_name, str) or parent_name not in section:
                issues.add(
                    "unknown_derived_from",
                    f"Missing definition for data type '{parent_name}' which is "
                    f"declared as derived by data type '{name}'",
                    pos_of(raw, "derived_from", at),
                )
            else:
                parent = declare(parent_name)
        visiting.discard(name)
        dt = DataType(
            name,
            {},
            parent_name,
            [*parent.hierarchy, name] if parent else [name],
            raw.get("description"),
            raw.get("version"),
        )
        declared[name] = (own, dt)
        return dt

    for name in section:
        declare(name)

    resolved: dict[str, DataType] = {}
    completing: set[str] = set()

    def complete(name: str) -> None:
        if name in resolved or name in completing or name not in declared:
            return  # a type used inside itself keeps the defaults it has so far
        completing.add(name)
        own, dt = declared[name]
        parent = dt.hierarchy[-2] if len(dt.hierarchy) > 1 else None
        if parent is not None:
            complete(parent)
        for prop in own.values():
            if isinstance(prop.get("type"), str):
                complete(prop["type"])
        inherited = resolved[parent].properties if parent in resolved else {}
        unknown: list[str] = []
        dt.properties = merge_schemas(inherited, own, resolved, unknown)
        report_unknown_defaults(
            unknown, f"data type '{name}'", issues, positions.pos("data_types", name)
        )
        completing.discard(name)
        resolved[name] = dt

    for name in declared:
        complete(name)
    resolved = {name: resolved[name] for name in declared if name in resolved}
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
