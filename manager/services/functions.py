"""The database behind intrinsic-function evaluation for one deployment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Deployment, Node, NodeInstance
from manager.services import secrets


def node_dict(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "name": node.id,
        "type": node.type,
        "type_hierarchy": node.type_hierarchy,
        "properties": node.properties,
        "operations": node.operations,
        "relationships": node.relationships,
        "host_id": node.host_id,
    }


def instance_dict(instance: NodeInstance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "node_id": instance.node_id,
        "host_id": instance.host_id,
        "state": instance.state,
        "runtime_properties": instance.runtime_properties,
        "relationships": instance.relationships,
        "scaling_groups": instance.scaling_groups,
        "index": instance.index,
        "version": instance.version,
    }


class DeploymentStorage:
    """Reads what functions need lazily, once per evaluation (a FunctionStorage)."""

    def __init__(self, session: Session, deployment: Deployment, secret_key: str) -> None:
        self.session = session
        self.deployment = deployment
        self.secret_key = secret_key
        self._nodes: dict[str, dict[str, Any]] | None = None
        self._instances: dict[str, dict[str, Any]] | None = None

    def _load(self) -> None:
        if self._nodes is not None:
            return
        nodes = self.session.scalars(select(Node).where(Node.deployment_pk == self.deployment.pk))
        self._nodes = {node.id: node_dict(node) for node in nodes}
        instances = self.session.scalars(
            select(NodeInstance).where(NodeInstance.deployment_pk == self.deployment.pk)
        )
        self._instances = {i.id: instance_dict(i) for i in instances}

    def get_input(self, name: str) -> Any:
        return self.deployment.inputs[name]

    def get_node(self, node_id: str) -> dict[str, Any]:
        self._load()
        assert self._nodes is not None
        return self._nodes[node_id]

    def get_node_instance(self, instance_id: str) -> dict[str, Any]:
        self._load()
        assert self._instances is not None
        return self._instances[instance_id]

    def get_node_instances(self, node_id: str) -> list[dict[str, Any]]:
        self._load()
        assert self._instances is not None
        return [i for i in self._instances.values() if i["node_id"] == node_id]

    def get_secret(self, name: str) -> Any:
        value = secrets.value_of(self.session, self.secret_key, self.deployment.tenant_pk, name)
        if value is None:
            raise KeyError(name)
        return value

    def get_capability(self, deployment_id: str, name: str) -> Any:
        from manager.dsl import evaluate_outputs

        other = self.session.scalars(
            select(Deployment).where(
                Deployment.id == deployment_id, Deployment.tenant_pk == self.deployment.tenant_pk
            )
        ).first()
        if other is None or name not in other.capabilities:
            raise KeyError(f"{deployment_id}.{name}")
        storage = DeploymentStorage(self.session, other, self.secret_key)
        return evaluate_outputs({name: other.capabilities[name]}, storage)[name]

    def get_environment_capability(self, name: str) -> Any:
        raise KeyError(name)

    def get_group_capability(self, group_id: str, names: list[str]) -> Any:
        raise KeyError(group_id)

    def get_label(self, key: str) -> list[str]:
        return [label["value"] for label in self.deployment.labels if label.get("key") == key]

    def get_sys(self, entity: str, prop: str) -> Any:
        deployment = self.deployment
        values = {
            ("tenant", "name"): deployment.tenant.name,
            ("deployment", "id"): deployment.id,
            ("deployment", "name"): deployment.display_name,
            ("deployment", "blueprint"): deployment.blueprint.id,
            ("deployment", "owner"): deployment.creator.username if deployment.creator else None,
        }
        return values[(entity, prop)]

    def get_consumers(self, what: str) -> Any:
        return {"ids": [], "names": [], "count": 0}[what]
