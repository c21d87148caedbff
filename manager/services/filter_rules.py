"""Cloudify 7's filter rules (`POST /searches/<resource>`) as SQL conditions, and the DSL
`constraints` that stand for the same rules.

A rule is `{"key", "values", "operator", "type"}`. `attribute` rules compare a column the
resource declares searchable; `label` rules look inside the resource's JSON list of
`{"key", "value"}` labels. Every rule is checked before any is applied, and the first bad one
is refused with `invalid_filter_rule`, naming the rule and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, and_, cast, exists, false, func, literal, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from manager.db import Tenant, User
from manager.errors import BadParameters, InvalidFilterRule, NotFound

LABEL = "label"
ATTRIBUTE = "attribute"
RULE_TYPES = (LABEL, ATTRIBUTE)
# The operators of cloudify-manager 7.0.5 (`cfy ... --filter-rules` produces the same).
LABEL_OPERATORS = ("any_of", "not_any_of", "is_not", "is_null", "is_not_null")
ATTRIBUTE_OPERATORS = (
    "any_of",
    "not_any_of",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "is_not_empty",
)
_WITHOUT_VALUES = frozenset({"is_null", "is_not_null", "is_not_empty"})
_RULE_ENTRIES = frozenset({"key", "values", "operator", "type"})
# DSL constraints (an input of type blueprint_id, deployment_id or secret_key) -> rules.
CONSTRAINTS = ("labels", "tenants", "name_pattern", "valid_values", "filter_id")
_NAME_PATTERNS = {
    "equals_to": "any_of",
    "contains": "contains",
    "starts_with": "starts_with",
    "ends_with": "ends_with",
}


@dataclass(frozen=True)
class Searchable:
    """What one resource may be searched by."""

    # The resource's plural name, as messages show it (`blueprints`).
    name: str
    # Attribute rule key -> the column (or correlated subquery) it compares.
    attributes: Mapping[str, Any]
    # The JSON column of the resource's labels; None when it has none.
    labels: Any = None
    # The attribute a constraint's `name_pattern` matches, and the one `valid_values` lists.
    name_attribute: str = "id"
    id_attribute: str = "id"
    # Attributes that accept only some operators (Cloudify: `schedules` only `is_not_empty`).
    operators_of: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FilterRule:
    key: str
    values: tuple[str, ...]
    operator: str
    type: str


def tenant_name_of(model: Any) -> Any:
    """The name of a row's tenant, as an attribute rules can name."""
    return (
        select(Tenant.name)
        .where(Tenant.pk == model.tenant_pk)
        .correlate_except(Tenant)
        .scalar_subquery()
    )


def creator_of(model: Any) -> Any:
    """The user name of a row's creator, as an attribute rules can name."""
    return (
        select(User.username)
        .where(User.pk == model.created_by_pk)
        .correlate_except(User)
        .scalar_subquery()
    )


def rules_of_search(
    filter_rules: Sequence[Any] | None,
    constraints: Mapping[str, Any] | None,
    searchable: Searchable,
) -> list[FilterRule] | None:
    """The rules a search body asks for; None when it asks for none."""
    if filter_rules and constraints:
        raise BadParameters("Give either `filter_rules` or `constraints`, not both")
    if constraints:
        filter_rules = rules_from_constraints(constraints, searchable)
    if filter_rules is None:
        return None
    return parse_rules(filter_rules, searchable)


def refuse_saved_filter(filter_id: str) -> None:
    """Saved filters (`_filter_id`, `cfy filters`) are not kept by this manager: a search
    naming one must not silently return everything."""
    raise NotFound.of("Filter", filter_id)


def parse_rules(raw_rules: Sequence[Any], searchable: Searchable) -> list[FilterRule]:
    """Every rule checked (the first bad one refused), duplicates dropped."""
    rules: list[FilterRule] = []
    for raw in raw_rules:
        rule = _parse_rule(raw, searchable)
        if rule not in rules:
            rules.append(rule)
    return rules


def _parse_rule(raw: Any, searchable: Searchable) -> FilterRule:
    if not isinstance(raw, dict):
        raise InvalidFilterRule(
            raw, "A filter rule is an object with `key`, `values`, `operator` and `type`"
        )
    if missing := sorted(_RULE_ENTRIES - set(raw)):
        raise InvalidFilterRule(raw, f"The rule has no {', '.join(f'`{m}`' for m in missing)}")
    if unknown := sorted(set(raw) - _RULE_ENTRIES):
        raise InvalidFilterRule(raw, f"Unknown entries {', '.join(f'`{u}`' for u in unknown)}")
    key, values, operator, rule_type = raw["key"], raw["values"], raw["operator"], raw["type"]
    if not isinstance(key, str) or not key:
        raise InvalidFilterRule(raw, "The key must be a non-empty string")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidFilterRule(raw, "The values must be a list of strings")
    if rule_type == LABEL:
        if searchable.labels is None:
            raise InvalidFilterRule(
                raw, f"{searchable.name.capitalize()} have no labels; filter them by attribute"
            )
        operators: Sequence[str] = LABEL_OPERATORS
    elif rule_type == ATTRIBUTE:
        if key not in searchable.attributes:
            raise InvalidFilterRule(
                raw,
                f"Unknown attribute `{key}`: {searchable.name} can be filtered by "
                f"{', '.join(sorted(searchable.attributes))}",
            )
        operators = searchable.operators_of.get(key, ATTRIBUTE_OPERATORS)
    else:
        raise InvalidFilterRule(
            raw, f"Unknown rule type `{rule_type}`; use one of {', '.join(RULE_TYPES)}"
        )
    if operator not in operators:
        what = (
            f"the attribute `{key}`"
            if rule_type == ATTRIBUTE and key in searchable.operators_of
            else f"{rule_type} rules"
        )
        raise InvalidFilterRule(
            raw, f"Unknown operator `{operator}` for {what}; use one of {', '.join(operators)}"
        )
    if operator in _WITHOUT_VALUES and values:
        raise InvalidFilterRule(raw, f"The operator `{operator}` takes no values")
    if operator not in _WITHOUT_VALUES and not values:
        raise InvalidFilterRule(raw, f"The operator `{operator}` needs at least one value")
    # Label keys are case-insensitive in Cloudify; attribute names are exact.
    return FilterRule(
        key.lower() if rule_type == LABEL else key, tuple(values), operator, rule_type
    )


def rules_from_constraints(constraints: Mapping[str, Any], searchable: Searchable) -> list[Any]:
    """The raw rules a DSL `constraints` object stands for (checked like any other rules)."""
    if unknown := sorted(set(constraints) - set(CONSTRAINTS)):
        raise BadParameters(
            f"Unknown constraint(s) {', '.join(f'`{u}`' for u in unknown)}; "
            f"searches take {', '.join(CONSTRAINTS)}"
        )
    if filter_id := constraints.get("filter_id"):
        refuse_saved_filter(str(filter_id))
    rules: list[Any] = []
    labels = constraints.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, dict) for x in labels):
        raise BadParameters("The `labels` constraint must be a list of {key: value} objects")
    for label in labels:
        rules.extend(_rule(key, [str(value)], "any_of", LABEL) for key, value in label.items())
    if tenants := constraints.get("tenants"):
        rules.append(_rule("tenant_name", _strings(tenants, "tenants"), "any_of", ATTRIBUTE))
    if valid := constraints.get("valid_values"):
        values = _strings(valid, "valid_values")
        rules.append(_rule(searchable.id_attribute, values, "any_of", ATTRIBUTE))
    patterns = constraints.get("name_pattern") or {}
    if not isinstance(patterns, dict):
        raise BadParameters("The `name_pattern` constraint must be an object")
    for name, value in patterns.items():
        if name not in _NAME_PATTERNS:
            raise BadParameters(
                f"Unknown `name_pattern` operator `{name}`; use one of {', '.join(_NAME_PATTERNS)}"
            )
        operator = _NAME_PATTERNS[name]
        rules.append(_rule(searchable.name_attribute, [str(value)], operator, ATTRIBUTE))
    return rules


def _rule(key: str, values: list[str], operator: str, rule_type: str) -> dict[str, Any]:
    return {"key": key, "values": values, "operator": operator, "type": rule_type}


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list):
        raise BadParameters(f"The `{name}` constraint must be a list")
    return [str(item) for item in value]


def conditions(
    rules: Sequence[FilterRule], searchable: Searchable, dialect: str
) -> list[ColumnElement[bool]]:
    """One SQL condition per rule, on `dialect`'s JSON functions for label rules."""
    return [
        _label_condition(searchable.labels, rule, dialect)
        if rule.type == LABEL
        else _attribute_condition(searchable.attributes[rule.key], rule)
        for rule in rules
    ]


def _attribute_condition(column: Any, rule: FilterRule) -> ColumnElement[bool]:
    values = list(rule.values)
    if column is None:  # an attribute this manager never sets (deployment schedules)
        return false()
    match rule.operator:
        case "any_of":
            return column.in_(values)  # type: ignore[no-any-return]
        case "not_any_of":
            return column.not_in(values)  # type: ignore[no-any-return]
        # Substring matches ignore case on both databases (SQLite's LIKE always does).
        case "contains":
            return or_(*(column.icontains(v, autoescape=True) for v in values))
        case "not_contains":
            return and_(*(not_(column.icontains(v, autoescape=True)) for v in values))
        case "starts_with":
            return or_(*(column.istartswith(v, autoescape=True) for v in values))
        case "ends_with":
            return or_(*(column.iendswith(v, autoescape=True) for v in values))
        case "is_not_empty":
            return and_(column.is_not(None), column != "")
    raise AssertionError(f"unchecked operator {rule.operator}")


def _label_condition(labels: Any, rule: FilterRule, dialect: str) -> ColumnElement[bool]:
    """Cloudify's label semantics: `not_any_of` needs the key with another value, `is_not`
    also matches resources without the key."""

    def having(*, values: Sequence[str] | None = None, negate: bool = False) -> Any:
        rows, key, value = _label_rows(labels, dialect)
        where = [func.lower(key) == rule.key]
        if values is not None:
            where.append(value.not_in(values) if negate else value.in_(values))
        return exists(select(literal(1)).select_from(rows).where(*where))

    values = list(rule.values)
    match rule.operator:
        case "any_of":
            return having(values=values)  # type: ignore[no-any-return]
        case "not_any_of":
            return having(values=values, negate=True)  # type: ignore[no-any-return]
        case "is_not":
            return not_(having(values=values))
        case "is_null":
            return not_(having())
        case "is_not_null":
            return having()  # type: ignore[no-any-return]
    raise AssertionError(f"unchecked operator {rule.operator}")


def _label_rows(labels: Any, dialect: str) -> tuple[Any, Any, Any]:
    """The labels column as rows, with each label's key and value as text."""
    if dialect == "postgresql":
        rows = func.jsonb_array_elements(labels).table_valued("value").alias("label")
        return (
            rows,
            func.jsonb_extract_path_text(rows.c.value, "key"),
            func.jsonb_extract_path_text(rows.c.value, "value"),
        )
    rows = func.json_each(labels).table_valued("value").alias("label")
    return (
        rows,
        cast(func.json_extract(rows.c.value, "$.key"), String),
        cast(func.json_extract(rows.c.value, "$.value"), String),
    )
