"""One list helper for every resource: filters, _sort, _include, _size/_offset, _search, _range.

Each resource declares its fields once (name -> column); everything a client may sort,
filter or project by is checked against that declaration, so an unknown name is a clear 400
instead of a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import Select, and_, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from manager.db import TenantMembership
from manager.errors import BadParameters, CodedError
from manager.services.identity import Principal
from manager.services.tenancy import visible

# Any select (of one model or of joined ones): the type the caller gave comes back.
_Stmt = TypeVar("_Stmt")

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
    # Page size when the client names none.
    default_size: int = DEFAULT_SIZE
    # Field name -> column that `_range` compares, where it is not the sort column.
    range_columns: Mapping[str, Any] = field(default_factory=dict)


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


def parse_include(request: Request, fields: Iterable[str]) -> list[str] | None:
    """`_include=a,b,c` of a list or a single read; an unknown field is a 400."""
    raw = request.query_params.get("_include")
    if not raw:
        return None
    include = [name.strip() for name in raw.split(",") if name.strip()]
    known = set(fields)
    unknown = [name for name in include if name not in known]
    if unknown:
        raise CodedError(
            f"Unknown include field(s): {', '.join(unknown)}", "no_such_include_field_error"
        )
    return include


def parse_list_query(request: Request, spec: ListSpec) -> ListQuery:
    params = request.query_params
    known = set(spec.fields) or set(spec.columns)
    extra = set(spec.extra_params)

    def canonical(name: str) -> str:
        name = name.lstrip("@")
        return spec.field_aliases.get(name, name)

    size = min(_int(params.get("_size", ""), "_size", spec.default_size), MAX_SIZE)
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
    include = parse_include(request, known)
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


def _python_type(column: Any) -> type:
    sql_type = getattr(column, "type", None)
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl  # e.g. UtcDateTime: its own python_type is `object`
    try:
        python_type: type = sql_type.python_type  # type: ignore[union-attr,assignment]
    except (AttributeError, NotImplementedError):
        return str
    return python_type


def parse_timestamp(value: str, name: str) -> datetime:
    """ISO 8601 as clients send it: `2024-03-25T15:51:30.526Z`, or `cfy events list --from`'s
    `2024-03-25 15:51:30`; a time without a zone is UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadParameters(
            f"`{name}` must be an ISO 8601 timestamp (e.g. 2024-03-25T15:51:30.526Z), got `{value}`"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _coerce(column: Any, value: str, name: str) -> Any:
    python_type = _python_type(column)
    if python_type is bool:
        return parse_bool(value, name)
    if python_type is datetime:
        return parse_timestamp(value, name)
    if python_type is int:
        try:
            return int(value)
        except ValueError:
            raise BadParameters(f"`{name}` must be an integer, got `{value}`") from None
    return value


def apply_query(stmt: Select[Any], spec: ListSpec, query: ListQuery) -> Select[Any]:
    """Filters, search and ranges; not the order or the page."""
    for name, values in query.filters.items():
        column = spec.columns[name]
        wanted = [_coerce(column, value, name) for value in values]
        stmt = stmt.where(column.in_(wanted) if len(wanted) > 1 else column == wanted[0])
    if query.search and spec.search_column is not None:
        stmt = stmt.where(spec.search_column.contains(query.search, autoescape=True))
    for name, low, high in query.ranges:
        column = spec.range_columns.get(name, spec.columns[name])
        if low:
            stmt = stmt.where(column >= _coerce(column, low, name))
        if high:
            stmt = stmt.where(column <= _coerce(column, high, name))
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
    filter_rules: Sequence[ColumnElement[bool]] | None = None,
) -> dict[str, Any]:
    """One page of `stmt`'s rows. With `filter_rules` (a search's), the metadata also says
    how many rows they hid (`filtered`, which `cfy` prints as "N hidden by filter")."""
    matching = apply_query(stmt, spec, query)
    narrowed = matching.where(*filter_rules) if filter_rules else matching
    total = count_rows(session, narrowed)
    rows = session.execute(order_and_page(narrowed, spec, query)).scalars().all()
    response = list_response([serialize(row) for row in rows], total, query)
    if filter_rules is not None:
        response["metadata"]["filtered"] = count_rows(session, matching) - total
    return response


def count_rows(session: Session, stmt: Select[Any]) -> int:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return int(total or 0)


def visible_in_list(stmt: _Stmt, model: Any, principal: Principal, query: ListQuery) -> _Stmt:
    """The rows of `model` a list shows: those `visible` in the caller's tenant, or with
    `_all_tenants=True` in every tenant the caller is a member of (every tenant for a system
    administrator). An execution token stays within its execution's scope."""
    select_: Select[Any] = stmt  # type: ignore[assignment]
    if not query.all_tenants or principal.scope is not None:
        return visible(select_, model, principal)  # type: ignore[return-value]
    return select_.where(in_member_tenants(model, principal))  # type: ignore[return-value]


def in_member_tenants(model: Any, principal: Principal) -> ColumnElement[bool]:
    """Rows of the caller's tenants (private ones only if theirs), and global rows."""
    if principal.is_admin:
        return true()
    member_of = select(TenantMembership.tenant_pk).where(
        TenantMembership.user_pk == principal.user_pk
    )
    condition = model.tenant_pk.in_(member_of)
    if hasattr(model, "visibility"):
        mine = or_(model.visibility != "private", model.created_by_pk == principal.user_pk)
        condition = or_(and_(condition, mine), model.visibility == "global")
    return condition


def project(item: dict[str, Any], include: list[str] | None) -> dict[str, Any]:
    if include is None:
        return item
    return {name: item.get(name) for name in include}


def list_response(items: list[dict[str, Any]], total: int, query: ListQuery) -> dict[str, Any]:
    return {
        "items": [project(item, query.include) for item in items],
        "metadata": {"pagination": {"total": total, "size": query.size, "offset": query.offset}},
    }
