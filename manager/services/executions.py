"""Execution records: creation, lookup and the fields lists may filter and sort by."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Deployment, Execution
from manager.errors import NotFound
from manager.services.identity import Principal
from manager.services.tenancy import visible

# Maintenance workflows that lists hide unless `_include_system_workflows=True`.
SYSTEM_WORKFLOWS = frozenset({"create_snapshot", "restore_snapshot", "upload_plugin"})


def new_execution(
    session: Session,
    principal: Principal,
    workflow_id: str,
    *,
    deployment: Deployment | None = None,
    blueprint_id: str | None = None,
    parameters: dict[str, Any] | None = None,
    **fields: Any,
) -> Execution:
    execution = Execution(
        id=str(uuid.uuid4()),
        tenant_pk=principal.tenant_pk,
        created_by_pk=principal.user_pk,
        workflow_id=workflow_id,
        deployment=deployment,
        blueprint_id=blueprint_id,
        parameters=parameters or {},
        is_system_workflow=workflow_id in SYSTEM_WORKFLOWS,
        status="pending",
        **fields,
    )
    session.add(execution)
    session.flush()
    return execution


def get(
    session: Session, principal: Principal, execution_id: str, *, lock: bool = False
) -> Execution:
    stmt = visible(select(Execution).where(Execution.id == execution_id), Execution, principal)
    if lock:
        stmt = stmt.with_for_update(of=Execution)
    execution = session.scalar(stmt)
    if execution is None:
        raise NotFound.of("Execution", execution_id)
    return execution
