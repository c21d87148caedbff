"""Which rows a principal may see: its tenant's, global ones, and private ones it owns.

An execution token sees what its execution's creator sees in the execution's tenant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.sql.elements import ColumnElement

from manager.services.identity import Principal


def visible(stmt: Select[Any], model: Any, principal: Principal) -> Select[Any]:
    """Restrict `stmt` to rows of `model` the principal may see in its current tenant."""
    return stmt.where(
        visible_to(model, principal.tenant_pk, principal.user_pk, admin=principal.is_admin)
    )


def visible_to(columns: Any, tenant_pk: Any, user_pk: Any, *, admin: bool) -> ColumnElement[bool]:
    """The rule itself: the tenant's rows (a private one only to its creator or an
    administrator) and global rows. `columns` is a model or a table's `.c`; the ids may be
    bound parameters, for a statement built once and run many times."""
    in_tenant = columns.tenant_pk == tenant_pk
    if not admin:
        in_tenant = and_(
            in_tenant, or_(columns.visibility != "private", columns.created_by_pk == user_pk)
        )
    return or_(in_tenant, columns.visibility == "global")
