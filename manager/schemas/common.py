"""Shapes shared by every resource: timestamps and the ownership fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

VISIBILITIES = ("private", "tenant", "global")


def check_visibility(value: str | None) -> str | None:
    """The validator of every body's `visibility` field (None means not sent)."""
    if value is not None and value not in VISIBILITIES:
        raise ValueError(f"must be one of {', '.join(VISIBILITIES)}")
    return value


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a trailing Z, as `cfy` expects."""
    if value is None:
        return None
    # (The stored wall-clock fields as they are, milliseconds truncated: what strftime gave,
    # at a third of its cost; every polled execution formats several.)
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def ownership(resource: Any) -> dict[str, Any]:
    """The fields every tenant-owned resource shares (see manager.db.resources)."""
    return {
        "visibility": resource.visibility,
        "tenant_name": resource.tenant.name,
        "created_by": resource.creator.username if resource.creator else None,
        "private_resource": resource.visibility == "private",
        "resource_availability": resource.visibility,
        "created_at": iso(resource.created_at),
    }


class OwnedRead(BaseModel):
    """The fields `ownership` gives every tenant-owned resource; optional for `_include`."""

    visibility: str | None = None
    tenant_name: str | None = None
    created_by: str | None = None
    private_resource: bool | None = None
    resource_availability: str | None = None
    created_at: str | None = None


class VisibilityChange(BaseModel):
    """The body of `PATCH /<resources>/{id}/set-visibility`."""

    model_config = ConfigDict(extra="ignore")

    visibility: str


class Pagination(BaseModel):
    total: int
    size: int
    offset: int


class ListMetadata(BaseModel):
    pagination: Pagination
    # Searches only: how many rows their filter rules hid ("N hidden by filter").
    filtered: int | None = None


ItemT = TypeVar("ItemT", bound=BaseModel)


class ListRead(BaseModel, Generic[ItemT]):
    """One page of a list, `{items, metadata}`, as every Cloudify list route answers.

    Items may be `_include` projections: their models make every field optional, and the
    routes answer with `response_model_exclude_unset=True` so a field left out stays out.
    """

    items: list[ItemT]
    metadata: ListMetadata


# What a route returning a read model (or a list of them) passes to its decorator.
READ: dict[str, Any] = {"response_model_exclude_unset": True}
