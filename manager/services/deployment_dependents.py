"""Which live nodes of other deployments use a deployment: components that created it, and
shared resources connected to it. Such a deployment cannot be deleted before them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Deployment, Node, NodeInstance

# Node types whose instances name the deployment they use in the runtime property
# `deployment.id` (cloudify_types in the worker's compatibility package).
USER_TYPES = frozenset({"cloudify.nodes.Component", "cloudify.nodes.SharedResource"})
# States in which such a node no longer holds its deployment: never installed, or being (or
# already) uninstalled. A component deletes its child deployment while `deleting`.
RELEASED_STATES = ("uninitialized", "stopping", "stopped", "deleting", "deleted")


def users_of(session: Session, deployment: Deployment) -> list[str]:
    """`<deployment>.<node instance>` of every live component or shared resource of the
    same tenant that uses `deployment`, sorted."""
    nodes = session.execute(
        select(Node.pk, Node.type_hierarchy)
        .join(Deployment, Deployment.pk == Node.deployment_pk)
        .where(Deployment.tenant_pk == deployment.tenant_pk, Deployment.pk != deployment.pk)
    ).all()
    node_pks = [pk for pk, hierarchy in nodes if USER_TYPES.intersection(hierarchy or [])]
    if not node_pks:
        return []
    rows = session.execute(
        select(Deployment.id, NodeInstance.id, NodeInstance.runtime_properties)
        .join(Deployment, Deployment.pk == NodeInstance.deployment_pk)
        .where(NodeInstance.node_pk.in_(node_pks), NodeInstance.state.not_in(RELEASED_STATES))
    ).all()
    users = []
    for deployment_id, instance_id, properties in rows:
        used = (properties or {}).get("deployment") or {}
        if isinstance(used, dict) and used.get("id") == deployment.id:
            users.append(f"{deployment_id}.{instance_id}")
    return sorted(users)
