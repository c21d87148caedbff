"""Changing a blueprint's or deployment's visibility (`cfy ... set-visibility`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Deployment
from manager.errors import BadParameters, Conflict, Forbidden, IllegalAction
from manager.permissions import authorize
from manager.schemas.common import VISIBILITIES
from manager.services.identity import Principal

_WIDTH = {name: width for width, name in enumerate(VISIBILITIES)}


def widen(session: Session, principal: Principal, resource: Any, visibility: str) -> None:
    """Visibility only widens (private -> tenant -> global), as in Cloudify; `global` needs
    the `create_global_resource` permission and an id no other tenant uses; a deployment is
    never wider than its blueprint."""
    kind = type(resource).__name__.lower()
    if visibility not in _WIDTH:
        raise BadParameters(
            f"Invalid visibility `{visibility}`; use one of {', '.join(VISIBILITIES)}"
        )
    if resource.tenant_pk != principal.tenant_pk and not principal.spans_tenants:
        raise Forbidden(f"The global {kind} `{resource.id}` belongs to another tenant")
    if visibility == resource.visibility:
        return
    if _WIDTH[visibility] < _WIDTH[resource.visibility]:
        raise IllegalAction(
            f"Can't set the visibility of {kind} `{resource.id}` to {visibility} because it "
            f"already has wider visibility ({resource.visibility})"
        )
    if (
        isinstance(resource, Deployment)
        and _WIDTH[visibility] > _WIDTH[resource.blueprint.visibility]
    ):
        raise IllegalAction(
            f"The visibility of deployment `{resource.id}` can't be wider than that of its "
            f"blueprint `{resource.blueprint.id}` ({resource.blueprint.visibility})"
        )
    if visibility == "global":
        authorize(principal, "create_global_resource")
        model = type(resource)
        clash = session.scalar(
            select(model.pk).where(model.id == resource.id, model.pk != resource.pk)
        )
        if clash is not None:
            raise Conflict(
                f"Can't make {kind} `{resource.id}` global: another tenant has a {kind} "
                "with that id"
            )
    resource.visibility = visibility
    session.flush()
