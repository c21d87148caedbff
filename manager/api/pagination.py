"""One list helper for every resource: filters, _sort, _include, _size/_offset, _search, _range.

Each resource declares its fields once (name -> column); everything a client may sort,
filter or project by is checked against that declaration, so an unknown name is a clear 400
instead of a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from manager.errors import BadParameters, CodedError

DEFAULT_SIZE = 1000
MAX_SIZE = 10000
# Query parameters every list accepts and that are not filters.
RESERVED = {
    "_size",
    "_offset",
    "_sort",
    "_include",
    "_search",
    "_all_tenants",
    "_range",
    "_get_data",
    "_filter_id",
}
TRUE_WORDS = {"true", "1", "yes", "y", "on"}
FALSE_WORDS = {"false", "0", "no", "n", "off", "", "none"}


def parse_bool(value: str | bool | None, name: str, default: bool = False) -> bool:
    """Booleans as the CLI sends them: `True`/`False` in queries, "true"/"false" in bodies."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise BadParameters(f"`{name}` must be a boolean, got `{value}`")


@dataclass
class ListSpec:
    """What one resource's list endpoint understands."""

    # Field name -> column; these may be filtered on, sorted by and ranged.
    columns: Mapping[str, Any]
    # Every field an item has (for `_include`); defaults to `columns`.
    fields: Iterable[str] = ()
    default_sort: Sequence[str] = ("created_at",)
    tie_breaker: Any = None
    search_column: Any = None
    # Extra query parameters this endpoint reads itself (not filters).
    extra_params: Iterable[str] = ()
    field_aliases: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ListQuery:
    size: int
    offset: int
    sort: list[tuple[str, bool]]
    include: list[str] | None
    filters: dict[str, list[str]]
    search: str | None
    all_tenants: bool
    ranges: list[tuple[str, str | None, str | None]]
    params: dict[str, str]


def _int(value: str, name: str, default: int) -> int:
    if value in ("", None):
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadParameters(f"`{name}` must be a non-negative integer, got `{value}`") from None
    if number < 0:
        raise BadParameters(f"`{name}` must be a non-negative integer, got `{value}`")
    return number


def parse_list_query(request: Request, spec: ListSpec) -> ListQuery:
    params = request.query_params
    known = set(spec.fields) or set(spec.columns)
    extra = set(spec.extra_params)

    def canonical(name: str) -> str:
        name = name.lstrip("@")
        return spec.field_aliases.get(name, name)

    size = min(_int(params.get("_size", ""), "_size", DEFAULT_SIZE), MAX_SIZE)
    offset = _int(params.get("_offset", ""), "_offset", 0)
    sort: list[tuple[str, bool]] = []
    for raw in params.getlist("_sort") or list(spec.default_sort):
        descending = raw.startswith("-")
        name = canonical(raw.lstrip("-+"))
        if name not in spec.columns:
            raise BadParameters(
                f"Cannot sort by unknown field `{name}`; use one of "
                f"{', '.join(sorted(spec.columns))}"
            )
        sort.append((name, descending))
    include = None
    if params.get("_include"):
        include = [name.strip() for name in params["_include"].split(",") if name.strip()]
        unknown = [name for name in include if name not in known]
        if unknown:
            raise CodedError(
                f"Unknown include field(s): {', '.join(unknown)}", "no_such_include_field_error"
            )
    filters: dict[str, list[str]] = {}
    for key in params:
        if key in RESERVED or key in extra:
            continue
        name = canonical(key)
        if name not in spec.columns:
            raise BadParameters(
                f"Unknown filter `{key}`; filter by one of {', '.join(sorted(spec.columns))}"
            )
        filters[name] = params.getlist(key)
    ranges = []
    for raw in params.getlist("_range"):
        parts = raw.split(",")
        if len(parts) != 3 or canonical(parts[0]) not in spec.columns:
            raise BadParameters(f"`_range` must be `field,from,to` on a known field, got `{raw}`")
        ranges.append((canonical(parts[0]), parts[1] or None, parts[2] or None))
    return ListQuery(
        size=size,
        offset=offset,
        sort=sort,
        include=include,
        filters=filters,
        search=params.get("_search"),
        all_tenants=parse_bool(params.get("_all_tenants"), "_all_tenants"),
        ranges=ranges,
        params=dict(params),
    )


def _coerce(column: Any, value: str) -> Any:
    python_type = getattr(getattr(column, "type", None), "python_type", str)
    try:
        if python_type is bool:
            return parse_bool(value, str(column))
        if python_type is int:
            return int(value)
        if python_type is datetime:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (NotImplementedError, ValueError):
        pass
    return value


def apply_query(stmt: Select[Any], spec: ListSpec, query: ListQuery) -> Select[Any]:
    """Filters, search and ranges; not the order or the page."""
    for name, values in query.filters.items():
        column = spec.columns[name]
        wanted = [_coerce(column, value) for value in values]
        stmt = stmt.where(column.in_(wanted) if len(wanted) > 1 else column == wanted[0])
    if query.search and spec.search_column is not None:
        stmt = stmt.where(spec.search_column.contains(query.search, autoescape=True))
    for name, low, high in query.ranges:
        column = spec.columns[name]
        if low:
            stmt = stmt.where(column >= _coerce(column, low))
        if high:
            stmt = stmt.where(column <= _coerce(column, high))
    return stmt


def order_and_page(stmt: Select[Any], spec: ListSpec, query: ListQuery) -> Select[Any]:
    order: list[ColumnElement[Any]] = []
    for name, descending in query.sort:
        column = spec.columns[name]
        order.append(column.desc() if descending else column.asc())
    if spec.tie_breaker is not None:
        # A total order: equal sort keys must not let rows swap between pages.
        descending = bool(query.sort and query.sort[-1][1])
        order.append(spec.tie_breaker.desc() if descending else spec.tie_breaker.asc())
    return stmt.order_by(*order).offset(query.offset).limit(query.size)


def run_list(
    session: Session,
    stmt: Select[Any],
    spec: ListSpec,
    query: ListQuery,
    serialize: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    filtered = apply_query(stmt, spec, query)
    total = session.scalar(select(func.count()).select_from(filtered.order_by(None).subquery()))
    rows = session.execute(order_and_page(filtered, spec, query)).scalars().all()
    return list_response([serialize(row) for row in rows], int(total or 0), query)


def project(item: dict[str, Any], include: list[str] | None) -> dict[str, Any]:
    if include is None:
        return item
    return {name: item.get(name) for name in include}


def list_response(items: list[dict[str, Any]], total: int, query: ListQuery) -> dict[str, Any]:
    return {
        "items": [project(item, query.include) for item in items],
        "metadata": {"pagination": {"total": total, "size": query.size, "offset": query.offset}},
    }
