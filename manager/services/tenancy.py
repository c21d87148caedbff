"""Which rows a principal may see (its tenant's, global ones, and private ones it owns), and
the rule that only a row's own tenant changes it.

An execution token sees what its execution's creator sees in the execution's tenant.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from manager.errors import Forbidden, NotFound
from manager.services.identity import Principal

# Any SELECT, whatever its columns: `visible` hands back the same kind it is given.
_Select = TypeVar("_Select", bound="Select[*tuple[Any, ...]]")
_Row = TypeVar("_Row")


def visible(stmt: _Select, model: Any, principal: Principal) -> _Select:
    """Restrict `stmt` to rows of `model` the principal may see in its current tenant."""
    return stmt.where(
        visible_to(model, principal.tenant_pk, principal.user_pk, admin=principal.is_admin)
    )


def get_visible(session: Session, principal: Principal, model: type[_Row], row_id: str) -> _Row:
    """The row of `model` with this `id` that the principal may see, else NotFound naming the
    model's class (`Requested `Blueprint` with ID `x` was not found`)."""
    stmt = visible(select(model).filter_by(id=row_id), model, principal)
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound.of(model.__name__, row_id)
    return row


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


def check_own_tenant(
    principal: Principal, resource: Any, action: str, *, admin_anywhere: bool = True
) -> None:
    """Refuse (403) to `action` a row of another tenant: global rows are readable from every
    tenant but changed only from their own, as in Cloudify (validate_global_modification).

    Cloudify answers 400 there and refuses system administrators too; here it is 403, and a
    system administrator (not through an execution token) may change them from anywhere (as
    secrets always allowed), except
    where `admin_anywhere` is off: an execution belongs to the tenant it is started in, so
    one on another tenant's global deployment would run its operations outside their tenant.
    """
    if resource.tenant_pk == principal.tenant_pk or (admin_anywhere and principal.spans_tenants):
        return
    kind = type(resource).__name__.lower()
    name = getattr(resource, "key", None) or resource.id
    raise Forbidden(
        f"Can't {action} the global {kind} `{name}` from outside its tenant "
        f"`{resource.tenant.name}`"
    )
