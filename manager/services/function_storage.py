"""The database behind intrinsic-function evaluation for one deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Deployment, DeploymentGroup, Node, NodeInstance
from manager.errors import CodedError
from manager.services import secrets
from manager.services.identity import Principal

# Who a `get_secret` resolves for: the caller, or (for an operation) a function giving the
# execution's creator, called only when a secret is actually read.
Reader = Principal | Callable[[], Principal]


def evaluation_error(exc: Any) -> CodedError:
    """The API error of a failed evaluation (a DslError): its Cloudify code, and 403 for a
    secret the caller may not read."""
    from manager.dsl import SecretNotPermittedError

    status = 403 if isinstance(exc, SecretNotPermittedError) else 400
    return CodedError(exc.message, exc.error_code, status)


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
    """Reads what functions need lazily, once per evaluation (a FunctionStorage).

    Secrets resolve for `reader` under the rules of `GET /secrets/<key>`: a secret it cannot
    see is missing, a hidden one whose value it may not read is an error naming the secret.
    """

    def __init__(
        self, session: Session, deployment: Deployment, secret_key: str, reader: Reader
    ) -> None:
        self.session = session
        self.deployment = deployment
        self.secret_key = secret_key
        self.reader = reader
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
        from manager.dsl import SecretNotPermittedError

        reader = self.reader if isinstance(self.reader, Principal) else self.reader()
        try:
            value = secrets.resolve(self.session, reader, self.secret_key, name)
        except secrets.SecretNotReadable as exc:
            raise SecretNotPermittedError(str(exc)) from None
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
        storage = DeploymentStorage(self.session, other, self.secret_key, self.reader)
        return evaluate_outputs({name: other.capabilities[name]}, storage)[name]

    def get_environment_capability(self, name: str) -> Any:
        raise KeyError(name)

    def get_group_capability(self, group_id: str, names: list[str]) -> Any:
        """Deployment id -> {name: value} of the named capabilities, for each deployment of
        a deployment group of this deployment's tenant (a missing one is None)."""
        from manager.dsl import evaluate_outputs

        group = self.session.scalars(
            select(DeploymentGroup).where(
                DeploymentGroup.id == group_id,
                DeploymentGroup.tenant_pk == self.deployment.tenant_pk,
            )
        ).first()
        if group is None:
            raise KeyError(group_id)
        found = {}
        for member in group.deployments:
            storage = DeploymentStorage(self.session, member, self.secret_key, self.reader)
            wanted = {n: member.capabilities[n] for n in names if n in member.capabilities}
            values = evaluate_outputs(wanted, storage)
            found[member.id] = {n: values.get(n) for n in names}
        return found

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
