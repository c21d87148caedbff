"""Reading a deployment's nodes and instances into the plain `Topology` that workflow
builders take (the builders never see the ORM)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Deployment, Node, NodeInstance
from manager.workflows.topology import Topology


def load_topology(session: Session, deployment: Deployment) -> Topology:
    nodes = session.execute(
        select(
            Node.id,
            Node.type,
            Node.type_hierarchy,
            Node.operations,
            Node.relationships,
            Node.plugins,
            Node.properties,
        ).where(Node.deployment_pk == deployment.pk)
    ).mappings()
    instances = session.execute(
        select(
            NodeInstance.id,
            NodeInstance.node_id,
            NodeInstance.state,
            NodeInstance.host_id,
            NodeInstance.relationships,
        ).where(NodeInstance.deployment_pk == deployment.pk)
    ).mappings()
    return Topology([dict(n) for n in nodes], [dict(i) for i in instances])
