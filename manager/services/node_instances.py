"""Node instances: lookup and the optimistic-locking update plugins and `cfy` make."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from manager.db import Deployment, Node, NodeInstance
from manager.errors import BadParameters, CodedError, Conflict, NotFound
from manager.services.identity import Principal
from manager.services.tenancy import visible

STATES = (
    "uninitialized",
    "initializing",
    "creating",
    "created",
    "configuring",
    "configured",
    "starting",
    "started",
    "stopping",
    "stopped",
    "deleting",
    "deleted",
)


def nodes_listed() -> Select[Node, Deployment]:
    """(node, deployment) rows, before a list's visibility and filters."""
    return select(Node, Deployment).join(Deployment, Deployment.pk == Node.deployment_pk)


def listed() -> Select[NodeInstance, Deployment]:
    """(node instance, deployment) rows, before a list's visibility and filters."""
    return select(NodeInstance, Deployment).join(
        Deployment, Deployment.pk == NodeInstance.deployment_pk
    )


def get(
    session: Session, principal: Principal, instance_id: str, *, lock: bool = False
) -> tuple[NodeInstance, Deployment]:
    stmt = visible(
        select(NodeInstance, Deployment)
        .join(Deployment, Deployment.pk == NodeInstance.deployment_pk)
        .where(NodeInstance.id == instance_id, NodeInstance.tenant_pk == principal.tenant_pk),
        Deployment,
        principal,
    )
    if lock:
        stmt = stmt.with_for_update(of=NodeInstance)
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound.of("NodeInstance", instance_id)
    return row[0], row[1]


def update(
    session: Session,
    principal: Principal,
    instance_id: str,
    changes: dict[str, Any],
    *,
    force: bool = False,
) -> tuple[NodeInstance, Deployment]:
    """Apply a PATCH; refused (409) only when the stored version is newer than the sent one.

    `cfy node-instances update-runtime` sends the version it read plus one, and plugin code
    the version it read: both must pass, while a writer that read an older version loses.
    """
    instance, deployment = get(session, principal, instance_id, lock=True)
    sent = changes.get("version")
    if not force:
        if sent is None:
            raise BadParameters("`version` is required to update a node instance")
        if instance.version > int(sent):
            raise Conflict(
                f"Node instance update conflict [current version={instance.version}, "
                f"update version={sent}]"
            )
    if "relationships" in changes and changes["relationships"] != instance.relationships:
        raise CodedError(
            "Relationships can only be changed by a deployment update",
            "only_deployment_update",
            403,
        )
    if "state" in changes and changes["state"] is not None:
        if changes["state"] not in STATES:
            raise BadParameters(f"Unknown node instance state `{changes['state']}`")
        instance.state = changes["state"]
    if changes.get("runtime_properties") is not None:
        instance.runtime_properties = changes["runtime_properties"]
    if changes.get("system_properties") is not None:
        instance.system_properties = changes["system_properties"]
    instance.version += 1
    session.flush()
    return instance, deployment
