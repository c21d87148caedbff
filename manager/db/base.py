"""Declarative base, shared column types and the constraint naming convention."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, DateTime, MetaData, TypeDecorator, literal_column
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute

# Named constraints keep migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDoc = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def unindexed(column: ColumnElement[Any] | QueryableAttribute[Any]) -> ColumnElement[Any]:
    """A column as an expression no index covers (`column || ''`, or `column + 0` for a
    number), for the conditions beside an id in statements that pick rows by their ids.

    PostgreSQL's planner would otherwise take an index of that column whenever its
    statistics rate the value rare, which they do for what was just written: the rows of
    an execution just created, a state many rows have just entered, a new deployment, or
    any table not analyzed yet. `id IN (...) AND state = 'pending'` then read every
    pending row, where one probe per id reads only the rows asked for."""
    if column.type.python_type is int:
        return column + literal_column("0")
    return column.concat(literal_column("''"))


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JsonDoc, list[Any]: JsonDoc, datetime: UtcDateTime}
