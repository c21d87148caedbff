"""Label listings (`GET /labels/deployments`, `/labels/blueprints`, and `/<key>` for one
key's values): what `cfy deployments labels list` and the console's label pickers read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from manager.api.deps import CurrentPrincipal, SessionDep, require
from manager.api.pagination import parse_bool
from manager.errors import BadParameters, NotFound
from manager.schemas.groups import LabelListRead
from manager.services import labels

router = APIRouter(prefix="/labels", tags=["labels"])


@router.get("/{resource}", response_model=LabelListRead, dependencies=[require("labels_list")])
def list_label_keys(
    resource: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Every label key of the resources the caller can see (`_reserved=true`: the `csys-`
    keys users may set)."""
    _check_resource(resource)
    if parse_bool(request.query_params.get("_reserved"), "_reserved"):
        return _page(request, list(labels.RESERVED_KEYS))
    search = request.query_params.get("_search")
    return _page(request, labels.keys(session, principal, resource, search))


@router.get(
    "/{resource}/{key}", response_model=LabelListRead, dependencies=[require("labels_list")]
)
def list_label_values(
    resource: str, key: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    _check_resource(resource)
    search = request.query_params.get("_search")
    return _page(request, labels.values(session, principal, resource, key, search))


def _check_resource(resource: str) -> None:
    if resource not in labels.LABELED:
        raise NotFound(
            f"Labels of `{resource}` are not listed here; use one of "
            f"{', '.join(sorted(labels.LABELED))}"
        )


def _page(request: Request, items: list[str]) -> dict[str, Any]:
    offset = _number(request.query_params.get("_offset"), "_offset", 0)
    size = _number(request.query_params.get("_size"), "_size", 1000)
    return {
        "items": items[offset : offset + size],
        "metadata": {"pagination": {"total": len(items), "size": size, "offset": offset}},
    }


def _number(raw: str | None, name: str, default: int) -> int:
    if raw in (None, ""):
        return default
    assert raw is not None
    if not raw.isdigit():
        raise BadParameters(f"`{name}` must be a non-negative integer, got `{raw}`")
    return int(raw)
