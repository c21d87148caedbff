"""The end of a deployment update's `update` execution: on success the rows it kept for the
workflow's sake go (removed nodes and instances, unlinked relationships) and the update is
`successful`; otherwise the update is `failed` and the rows stay as they are (until a resume
of the execution makes it `updating` again)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from manager.db import DeploymentUpdate, Execution, Node, NodeInstance
from manager.db.deployments import of_deployment

# The execution parameter holding what the update workflow must do and undo.
KEY = "_update"
UPDATING, SUCCESSFUL, FAILED = "updating", "successful", "failed"


def _record(session: Session, execution: Execution) -> DeploymentUpdate | None:
    return session.scalar(
        select(DeploymentUpdate).where(DeploymentUpdate.execution_id == execution.id)
    )


def finish(session: Session, execution: Execution) -> None:
    """The update's workflow succeeded: keep only what the new plan has."""
    plan: dict[str, Any] | None = execution.parameters.get(KEY)
    if not plan or execution.deployment_pk is None:
        return
    deployment_pk = execution.deployment_pk
    if plan["removed"]:
        session.execute(delete(NodeInstance).where(of_deployment(deployment_pk, plan["removed"])))
    if plan["removed_nodes"]:
        session.execute(
            delete(Node).where(
                Node.deployment_pk == deployment_pk, Node.id.in_(plan["removed_nodes"])
            )
        )
    for node_id, relationships in plan["node_relationships"].items():
        session.execute(
            update(Node)
            .where(Node.deployment_pk == deployment_pk, Node.id == node_id)
            .values(relationships=relationships)
        )
    for instance_id, relationships in plan["instance_relationships"].items():
        session.execute(
            update(NodeInstance)
            .where(of_deployment(deployment_pk, [instance_id]))
            .values(relationships=relationships, version=NodeInstance.version + 1)
        )
    record = _record(session, execution)
    if record is not None:
        record.state = SUCCESSFUL


def fail(session: Session, execution: Execution) -> None:
    """The update's workflow failed or was cancelled: say so on the update."""
    if not execution.parameters.get(KEY):
        return
    record = _record(session, execution)
    if record is not None:
        record.state = FAILED


def resumed(session: Session, execution: Execution) -> None:
    """The update's failed or cancelled workflow runs again: the update is under way again."""
    if not execution.parameters.get(KEY):
        return
    record = _record(session, execution)
    if record is not None:
        record.state = UPDATING
