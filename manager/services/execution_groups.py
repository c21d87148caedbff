"""Execution groups: one workflow started on every deployment of a deployment group, at most
`concurrency` of them running at once (the others wait `queued` until the watchdog starts
them), with a status that follows the executions'."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from manager.db import ExecutionGroup
from manager.db.groups import execution_group_members
from manager.errors import BadParameters, CodedError
from manager.orchestration import executions as states
from manager.orchestration.outbox import Outbox
from manager.schemas.executions import ExecutionStart
from manager.schemas.groups import ExecutionGroupStart, ExecutionGroupUpdate
from manager.services import deployment_groups, executions
from manager.services.identity import Principal
from manager.services.tenancy import check_own_tenant, get_visible, visible
from manager.settings import Settings

ACTIONS = ("cancel", "force-cancel", "kill", "resume", "force-resume")
_WAITING = frozenset({states.PENDING, states.QUEUED, states.SCHEDULED})


def listed() -> Select[Any]:
    return select(ExecutionGroup)


def get(session: Session, principal: Principal, group_id: str) -> ExecutionGroup:
    return get_visible(session, principal, ExecutionGroup, group_id)


def member_ids(principal: Principal, group_id: str) -> Select[Any]:
    """The ids of one visible execution group's executions, as a subquery (events lists
    narrowed by `execution_group_id`)."""
    groups = visible(
        select(ExecutionGroup.pk).where(ExecutionGroup.id == group_id), ExecutionGroup, principal
    )
    members = execution_group_members.c
    return select(members.execution_id).where(members.group_pk.in_(groups))


def status(group: ExecutionGroup) -> str | None:
    """Cloudify's rule: pending while every execution is pending; queued while each waits;
    once all ended, failed if any failed, else terminated; started in between. None for a
    group without executions."""
    found = {execution.status for execution in group.executions}
    if not found:
        return None
    if found == {states.PENDING}:
        return states.PENDING
    if found <= _WAITING:
        return states.QUEUED
    if found <= states.END_STATES:
        return states.FAILED if states.FAILED in found else states.TERMINATED
    return states.STARTED


def start(
    session: Session,
    settings: Settings,
    principal: Principal,
    body: ExecutionGroupStart,
    outbox: Outbox,
) -> ExecutionGroup:
    """An execution for each deployment of the group; the first `concurrency` start now.
    A deployment where the workflow cannot start refuses the whole group (nothing is kept)."""
    deployment_group = deployment_groups.get(session, principal, body.deployment_group_id)
    if not deployment_group.deployments:
        raise BadParameters(f"Deployment group `{deployment_group.id}` has no deployments")
    unknown = sorted(set(body.parameters or {}) - {d.id for d in deployment_group.deployments})
    if unknown:
        raise BadParameters(
            f"`parameters` names deployments not in group `{deployment_group.id}`: "
            f"{', '.join(unknown)}"
        )
    group = ExecutionGroup(
        id=str(uuid.uuid4()),
        tenant_pk=principal.tenant_pk,
        created_by_pk=principal.user_pk,
        visibility=deployment_group.visibility,
        deployment_group_pk=deployment_group.pk,
        deployment_group_id=deployment_group.id,
        workflow_id=body.workflow_id,
        concurrency=body.concurrency,
        executions=[],
    )
    session.add(group)
    for index, deployment in enumerate(deployment_group.deployments):
        parameters = {
            **(body.default_parameters or {}),
            **(body.parameters or {}).get(deployment.id, {}),
        }
        run = ExecutionStart(
            deployment_id=deployment.id,
            workflow_id=body.workflow_id,
            parameters=parameters,
            force=body.force,
            queue=True,
        )
        try:
            execution = executions.start(
                session, settings, principal, run, outbox, hold=index >= body.concurrency
            )
        except CodedError as exc:
            raise CodedError(
                f"Deployment `{deployment.id}`: {exc.message}", exc.error_code
            ) from None
        group.executions.append(execution)
    session.flush()
    return group


def control(
    session: Session, principal: Principal, group_id: str, action: str, outbox: Outbox
) -> ExecutionGroup:
    """Cancel (queued executions are cancelled at once; ended ones are left) or resume
    (failed and cancelled ones, within the group's concurrency) every execution of it."""
    if action not in ACTIONS:
        raise BadParameters(
            f"Invalid action: {action}, valid action values are: {', '.join(ACTIONS)}"
        )
    group = get(session, principal, group_id)
    check_own_tenant(principal, group, action)
    if action in ("resume", "force-resume"):
        resumable = [e for e in group.executions if e.status in (states.FAILED, states.CANCELLED)]
        running = sum(1 for e in group.executions if e.status in states.ACTIVE_STATES)
        for execution in resumable:
            if running < group.concurrency:
                executions.control(session, principal, execution.id, action, outbox)
                running += 1
        return group
    for execution in group.executions:
        if execution.status in states.END_STATES:
            continue
        if execution.status == states.QUEUED:
            states.transition(session, execution, states.CANCELLED)
        else:
            executions.control(session, principal, execution.id, action, outbox)
    session.flush()
    return group


def update(
    session: Session, principal: Principal, group_id: str, body: ExecutionGroupUpdate
) -> ExecutionGroup:
    """Set the success and failure target groups (deployments whose execution already
    terminated, or failed, join them now) and the concurrency."""
    group = get(session, principal, group_id)
    check_own_tenant(principal, group, "change")
    targets = ((body.success_group_id, states.TERMINATED), (body.failure_group_id, states.FAILED))
    for target_id, wanted in targets:
        if not target_id:
            continue
        target = deployment_groups.get(session, principal, target_id)
        check_own_tenant(principal, target, "change")
        if wanted == states.TERMINATED:
            group.success_group_pk = target.pk
        else:
            group.failure_group_pk = target.pk
        ended = [e.deployment for e in group.executions if e.status == wanted and e.deployment]
        deployment_groups.add_members(target, ended, principal)
    if body.concurrency is not None:
        group.concurrency = body.concurrency
    session.flush()
    return group
