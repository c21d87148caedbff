"""The storage interface runtime functions read through (the API implements it with the DB)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class FunctionStorage(Protocol):
    """Read-only view of one deployment (and of what it may reference) for the evaluator.

    Lookups of missing things raise KeyError; the evaluator turns that into a
    FunctionEvaluationError (or UnknownSecretError for secrets). A secret the reader may not
    read raises SecretNotPermittedError itself.
    """

    def get_input(self, name: str) -> Any: ...

    def get_node(self, node_id: str) -> dict[str, Any]:
        """The deployment node (plan node format: properties, relationships, ...)."""
        ...

    def get_node_instance(self, instance_id: str) -> dict[str, Any]:
        """id, node_id, runtime_properties, relationships, scaling_groups, index, host_id."""
        ...

    def get_node_instances(self, node_id: str) -> list[dict[str, Any]]: ...

    def get_secret(self, name: str) -> Any: ...

    def get_capability(self, deployment_id: str, name: str) -> Any: ...

    def get_environment_capability(self, name: str) -> Any: ...

    def get_group_capability(self, group_id: str, names: list[str]) -> Any: ...

    def get_label(self, key: str) -> list[str]:
        """Values of a deployment label, oldest first."""
        ...

    def get_sys(self, entity: str, prop: str) -> Any:
        """`tenant name`, `deployment id|name|blueprint|owner`."""
        ...

    def get_consumers(self, what: str) -> Any:
        """`ids`, `names` or `count` of the deployments consuming this one."""
        ...


class MemoryStorage:
    """A FunctionStorage over plain dicts: for tests, benchmarks and dry runs."""

    def __init__(
        self,
        *,
        inputs: dict[str, Any] | None = None,
        nodes: list[dict[str, Any]] | None = None,
        node_instances: list[dict[str, Any]] | None = None,
        secrets: dict[str, Any] | None = None,
        capabilities: dict[str, dict[str, Any]] | None = None,
        environment_capabilities: dict[str, Any] | None = None,
        group_capabilities: dict[str, dict[str, Any]] | None = None,
        labels: dict[str, list[str]] | None = None,
        sys: dict[tuple[str, str], Any] | None = None,
        consumers: dict[str, Any] | None = None,
    ) -> None:
        self.inputs = inputs or {}
        self.nodes = {n["id"]: n for n in nodes or []}
        self.instances = {i["id"]: i for i in node_instances or []}
        self.secrets = secrets or {}
        self.capabilities = capabilities or {}
        self.environment_capabilities = environment_capabilities or {}
        self.group_capabilities = group_capabilities or {}
        self.labels = labels or {}
        self.sys = sys or {}
        self.consumers = consumers or {}

    def get_input(self, name: str) -> Any:
        return self.inputs[name]

    def get_node(self, node_id: str) -> dict[str, Any]:
        return self.nodes[node_id]

    def get_node_instance(self, instance_id: str) -> dict[str, Any]:
        return self.instances[instance_id]

    def get_node_instances(self, node_id: str) -> list[dict[str, Any]]:
        return [i for i in self.instances.values() if i["node_id"] == node_id]

    def get_secret(self, name: str) -> Any:
        return self.secrets[name]

    def get_capability(self, deployment_id: str, name: str) -> Any:
        return self.capabilities[deployment_id][name]

    def get_environment_capability(self, name: str) -> Any:
        return self.environment_capabilities[name]

    def get_group_capability(self, group_id: str, names: list[str]) -> Any:
        group = self.group_capabilities[group_id]
        return {dep: {n: caps.get(n) for n in names} for dep, caps in group.items()}

    def get_label(self, key: str) -> list[str]:
        return self.labels[key]

    def get_sys(self, entity: str, prop: str) -> Any:
        return self.sys[(entity, prop)]

    def get_consumers(self, what: str) -> Any:
        return self.consumers[what]
