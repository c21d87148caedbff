"""Which rows a principal may see: its tenant's, global ones, and private ones it owns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, or_

from manager.services.identity import Principal


def visible(stmt: Select[Any], model: Any, principal: Principal) -> Select[Any]:
    """Restrict `stmt` to rows of `model` the principal may see in its current tenant."""
    in_tenant = model.tenant_pk == principal.tenant_pk
    if not principal.is_admin:
        in_tenant = and_(
            in_tenant,
            or_(model.visibility != "private", model.created_by_pk == principal.user_pk),
        )
    return stmt.where(or_(in_tenant, model.visibility == "global"))
