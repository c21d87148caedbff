"""Which rows a principal may see: its tenant's, global ones, and private ones it owns.

An execution token sees less: only its own deployment, that deployment's blueprint and
executions, and the tenant's secrets and plugins; every other model is hidden from it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, false, or_, true
from sqlalchemy.sql.elements import ColumnElement

from manager.db import Blueprint, Deployment, Execution, Plugin, Secret
from manager.services.identity import ExecutionScope, Principal


def visible(stmt: Select[Any], model: Any, principal: Principal) -> Select[Any]:
    """Restrict `stmt` to rows of `model` the principal may see in its current tenant."""
    in_tenant = model.tenant_pk == principal.tenant_pk
    if not principal.is_admin:
        in_tenant = and_(
            in_tenant,
            or_(model.visibility != "private", model.created_by_pk == principal.user_pk),
        )
    stmt = stmt.where(or_(in_tenant, model.visibility == "global"))
    if principal.scope is not None:
        stmt = stmt.where(in_scope(model, principal.scope))
    return stmt


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
