"""An execution group's target groups: when one of its executions terminates (or fails), its
deployment joins the group's success (or failure) deployment group, and gets that group's
labels, as Cloudify does."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from manager.db import Deployment, DeploymentGroup, Execution, ExecutionGroup
from manager.db.groups import deployment_group_members, execution_group_members


def join_target_group(session: Session, execution: Execution, succeeded: bool) -> None:
    """Put the execution's deployment in its execution group's target group, if any."""
    if execution.deployment_pk is None:
        return
    target = ExecutionGroup.success_group_pk if succeeded else ExecutionGroup.failure_group_pk
    members = execution_group_members
    group_pk = session.scalar(
        select(target)
        .join(members, members.c.group_pk == ExecutionGroup.pk)
        .where(members.c.execution_id == execution.id, target.is_not(None))
    )
    if group_pk is None:
        return
    belongs = deployment_group_members.c
    present = session.scalar(
        select(belongs.group_pk).where(
            belongs.group_pk == group_pk, belongs.deployment_pk == execution.deployment_pk
        )
    )
    if present is not None:
        return
    session.execute(
        insert(deployment_group_members).values(
            group_pk=group_pk, deployment_pk=execution.deployment_pk
        )
    )
    group = session.get(DeploymentGroup, group_pk)
    deployment = session.get(Deployment, execution.deployment_pk)
    if group is None or deployment is None or not group.labels:
        return
    have = {(label["key"], label["value"]) for label in deployment.labels}
    missing = [label for label in group.labels if (label["key"], label["value"]) not in have]
    if missing:
        deployment.labels = [*deployment.labels, *missing]
