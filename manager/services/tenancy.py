"""Which rows a principal may see: its tenant's, global ones, and private ones it owns.

An execution token sees less: only its own deployment, that deployment's blueprint and
executions, and the tenant's secrets and plugins; every other model is hidden from it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, and_, false, or_, true
from sqlalchemy.sql.elements import ColumnElement

from manager.db import Blueprint, Deployment, Execution, Plugin, Secret
from manager.services.identity import ExecutionScope, Principal

# Any SELECT, whatever its columns: `visible` hands back the same kind it is given.
_Select = TypeVar("_Select", bound="Select[*tuple[Any, ...]]")


def visible(stmt: _Select, model: Any, principal: Principal) -> _Select:
    """Restrict `stmt` to rows of `model` the principal may see in its current tenant."""
    stmt = stmt.where(
        visible_to(model, principal.tenant_pk, principal.user_pk, admin=principal.is_admin)
    )
    if principal.scope is not None:
        stmt = stmt.where(in_scope(model, principal.scope))
    return stmt


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


def in_scope(model: Any, scope: ExecutionScope) -> ColumnElement[bool]:
    if model is Deployment:
        return _equals(Deployment.pk, scope.deployment_pk)
    if model is Blueprint:
        return _equals(Blueprint.pk, scope.blueprint_pk)
    if model is Execution:
        return or_(
            Execution.id == scope.execution_id,
            _equals(Execution.deployment_pk, scope.deployment_pk),
        )
    if model in (Secret, Plugin):
        return true()
    return false()


def _equals(column: Any, value: int | None) -> ColumnElement[bool]:
    return column == value if value is not None else false()
