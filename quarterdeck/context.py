"""The operation context `ctx` that plugin code sees, and the context-local proxy over it."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from typing import Any, Protocol

from quarterdeck import rest
from quarterdeck.binding import Binding, Proxy
from quarterdeck.exceptions import NonRecoverableError, OperationRetry
from quarterdeck.props import ReadOnlyDict, RuntimeProperties
from quarterdeck.render import needs_rendering, render

NODE_INSTANCE = "node-instance"
RELATIONSHIP_INSTANCE = "relationship-instance"


class Backend(Protocol):
    """How a context reaches the worker: a pipe in a runner, a socket in a script."""

    def call(self, method: str, params: dict[str, Any]) -> Any: ...

    def log(self, record: dict[str, Any]) -> None: ...


def timestamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _BackendHandler(logging.Handler):
    """Sends ctx.logger records to the worker as plain dicts."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(logging.DEBUG)
        self._backend = backend

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info))
            self._backend.log(
                {
                    "level": record.levelname.lower(),
                    "message": message,
                    "timestamp": timestamp(record.created),
                    "logger": record.name,
                }
            )
        except Exception:
            self.handleError(record)


class NodeContext:
    """A node (template): `ctx.node`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._properties = ReadOnlyDict(data.get("properties") or {})

    @property
    def id(self) -> str:
        return str(self._data["id"])

    @property
    def name(self) -> str:
        return str(self._data.get("name") or self._data["id"])

    @property
    def type(self) -> str | None:
        return self._data.get("type")

    @property
    def type_hierarchy(self) -> list[str]:
        return list(self._data.get("type_hierarchy") or [])

    @property
    def properties(self) -> ReadOnlyDict:
        return self._properties

    @property
    def number_of_instances(self) -> int | None:
        return self._data.get("number_of_instances")


class RelationshipTarget:
    """`relationship.target`: the target's node and instance, read-only."""

    def __init__(self, entry: dict[str, Any], backend: Backend) -> None:
        target = entry.get("target") or {}
        node = target.get("node") or {"id": entry.get("target_name"), "properties": {}}
        instance = target.get("instance") or {"id": entry.get("target_id")}
        self.node = NodeContext(node)
        self.instance = InstanceContext(instance, backend, writable=False)


class Relationship:
    """One of `ctx.instance.relationships`."""

    def __init__(self, entry: dict[str, Any], backend: Backend) -> None:
        self._entry = entry
        self._backend = backend
        self._target: RelationshipTarget | None = None

    @property
    def type(self) -> str | None:
        return self._entry.get("type")

    @property
    def type_hierarchy(self) -> list[str]:
        return list(self._entry.get("type_hierarchy") or [self._entry.get("type")])

    @property
    def target_id(self) -> str | None:
        return self._entry.get("target_id")

    @property
    def target_name(self) -> str | None:
        return self._entry.get("target_name")

    @property
    def target(self) -> RelationshipTarget:
        if self._target is None:
            self._target = RelationshipTarget(self._entry, self._backend)
        return self._target


class InstanceContext:
    """A node instance: `ctx.instance`, or `ctx.source.instance` / `ctx.target.instance`."""

    def __init__(self, data: dict[str, Any], backend: Backend, writable: bool = True) -> None:
        self._data = data
        self._backend = backend
        self._writable = writable
        props = data.get("runtime_properties") or {}
        self._runtime_properties: RuntimeProperties | ReadOnlyDict = (
            RuntimeProperties(props)
            if writable
            else ReadOnlyDict(props, "runtime properties of a relationship target")
        )
        self._relationships: list[Relationship] | None = None

    @property
    def id(self) -> str:
        return str(self._data["id"])

    @property
    def state(self) -> str | None:
        return self._data.get("state")

    @property
    def version(self) -> int | None:
        return self._data.get("version")

    @property
    def host_id(self) -> str | None:
        return self._data.get("host_id")

    @property
    def index(self) -> int | None:
        return self._data.get("index")

    @property
    def runtime_properties(self) -> RuntimeProperties | ReadOnlyDict:
        return self._runtime_properties

    @property
    def relationships(self) -> list[Relationship]:
        if self._relationships is None:
            entries = self._data.get("relationships") or []
            self._relationships = [Relationship(entry, self._backend) for entry in entries]
        return self._relationships

    @property
    def dirty(self) -> bool:
        props = self._runtime_properties
        return isinstance(props, RuntimeProperties) and props.dirty

    def update(self, on_conflict: Any = None) -> None:
        """Hand the current runtime properties to the worker now.

        The worker keeps them with the operation, so they are stored even if this process
        dies before the operation ends (Cloudify PATCHes at this point).
        """
        props = self._runtime_properties
        if not isinstance(props, RuntimeProperties) or not props.dirty:
            return
        self._backend.call(
            "update_instance",
            {"instance_id": self.id, "version": self.version, "runtime_properties": dict(props)},
        )
        props.mark_saved()

    def refresh(self, force: bool = False) -> None:
        # The context already carries the stored state; there is nothing newer to fetch.
        if self.dirty and not force:
            raise NonRecoverableError("Cannot refresh a node instance with unsaved changes")


class RelationshipSide:
    """`ctx.source` / `ctx.target` in a relationship operation: both sides are writable."""

    def __init__(self, data: dict[str, Any], backend: Backend) -> None:
        self.node = NodeContext(data.get("node") or {})
        self.instance = InstanceContext(data.get("instance") or {}, backend)


class OperationInfo:
    """`ctx.operation`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.retry_requested: OperationRetry | None = None

    @property
    def name(self) -> str | None:
        return self._data.get("name")

    @property
    def retry_number(self) -> int:
        return int(self._data.get("retry_number") or 0)

    @property
    def max_retries(self) -> int | None:
        return self._data.get("max_retries")

    @property
    def relationship(self) -> str | None:
        return self._data.get("relationship")

    def retry(self, message: str | None = None, retry_after: float | None = None) -> OperationRetry:
        """Ask to run the operation again; takes effect when the function returns."""
        self.retry_requested = OperationRetry(message or "", retry_after=retry_after)
        return self.retry_requested


class _Named:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class PluginInfo(str):
    """`ctx.plugin`: the plugin name as a string, with the plugin's details as attributes."""

    name: str | None
    package_name: str | None
    package_version: str | None
    source: str | None
    properties: dict[str, Any]
    prefix: str

    def __new__(cls, data: dict[str, Any] | None) -> PluginInfo:
        data = data or {}
        self = super().__new__(cls, data.get("name") or "")
        self.name = data.get("name")
        self.package_name = data.get("package_name")
        self.package_version = data.get("package_version")
        self.source = data.get("source")
        self.properties = dict(data.get("properties") or {})
        self.prefix = sys.prefix
        return self


class OperationContext:
    """What `ctx` resolves to while one operation runs."""

    def __init__(self, data: dict[str, Any], backend: Backend) -> None:
        self._data = data
        self._backend = backend
        self._operation = OperationInfo(data.get("operation") or {})
        self._relationship = self._operation.relationship
        self._node: NodeContext | None = None
        self._instance: InstanceContext | None = None
        self._source: RelationshipSide | None = None
        self._target: RelationshipSide | None = None
        if self._relationship:
            self._source = RelationshipSide(data.get("source") or {}, backend)
            self._target = RelationshipSide(data.get("target") or {}, backend)
        else:
            self._node = NodeContext(data.get("node") or {})
            self._instance = InstanceContext(data.get("instance") or {}, backend)
        self._logger: logging.Logger | None = None
        self.deployment = _Named(
            id=data.get("deployment_id"),
            tenant_name=data.get("tenant"),
            display_name=data.get("deployment_id"),
            resource_tags=data.get("deployment_resource_tags") or {},
        )
        self.blueprint = _Named(id=data.get("blueprint_id"))
        self.plugin = PluginInfo(data.get("plugin"))

    # identity and bookkeeping -------------------------------------------------------------
    @property
    def type(self) -> str:
        return RELATIONSHIP_INSTANCE if self._relationship else NODE_INSTANCE

    @property
    def task_id(self) -> str | None:
        return self._data.get("operation_id")

    @property
    def task_name(self) -> str | None:
        return self._data.get("task_name")

    @property
    def execution_id(self) -> str | None:
        return self._data.get("execution_id")

    @property
    def workflow_id(self) -> str | None:
        return self._data.get("workflow_id")

    @property
    def workflow_parameters(self) -> dict[str, Any]:
        return dict(self._data.get("workflow_parameters") or {})

    @property
    def tenant_name(self) -> str | None:
        return self._data.get("tenant")

    @property
    def tenant(self) -> dict[str, Any]:
        return {"name": self._data.get("tenant")}

    @property
    def timeout(self) -> float | None:
        return self._data.get("timeout")

    # the manager's REST API (see quarterdeck/rest.py) -----------------------------------------
    @property
    def execution_token(self) -> str | None:
        return self._data.get("execution_token")

    @property
    def rest_token(self) -> str | None:
        # Cloudify passes the execution token here too; there is no other token.
        return self._data.get("execution_token")

    @property
    def rest_host(self) -> str:
        return rest.rest_host()

    @property
    def rest_port(self) -> int:
        return rest.rest_port()

    @property
    def rest_protocol(self) -> str:
        return rest.rest_protocol()

    @property
    def execution_creator_username(self) -> str | None:
        return self._data.get("execution_creator")

    @property
    def task_queue(self) -> str | None:
        return self._data.get("queue")

    task_target = task_queue

    @property
    def local(self) -> bool:
        return False

    @property
    def bypass_maintenance(self) -> bool:
        return False

    @property
    def provider_context(self) -> dict[str, Any]:
        """The manager's provider context (`GET /provider/context`)."""
        return dict(self._get("/provider/context").get("context") or {})

    def _get(self, path: str) -> Any:
        return rest.get_json(path, self.execution_token, self.tenant_name)

    def get_tenant(self) -> dict[str, Any]:
        """The execution's tenant as `GET /tenants/<name>` gives it."""
        return rest.Item(self._get(f"/tenants/{self.tenant_name}"))

    def get_managers(self, network: str = "default") -> list[rest.Item]:
        """The managers with an address on `network` (`GET /managers`)."""
        return rest.in_network(self._get("/managers").get("items") or [], network)

    def get_brokers(self, network: str = "default") -> list[rest.Item]:
        """The brokers with an address on `network` (`GET /brokers`)."""
        return rest.in_network(self._get("/brokers").get("items") or [], network)

    @property
    def agent(self) -> rest.AgentContext:
        node = self.node
        if rest.COMPUTE_TYPE not in node.type_hierarchy:
            raise NonRecoverableError(
                "ctx.agent can only be used with compute nodes but current node is of "
                f"type: {node.type}"
            )
        return rest.AgentContext(dict(node.properties))

    @property
    def resume(self) -> bool:
        return bool(self._data.get("resume"))

    @property
    def operation(self) -> OperationInfo:
        return self._operation

    @property
    def inputs(self) -> dict[str, Any]:
        return dict(self._data.get("inputs") or {})

    # the graph ------------------------------------------------------------------------------
    @property
    def node(self) -> NodeContext:
        if self._node is None:
            raise NonRecoverableError(
                "ctx.node can only be used in a node-instance context "
                "(use ctx.source.node or ctx.target.node)"
            )
        return self._node

    @property
    def instance(self) -> InstanceContext:
        if self._instance is None:
            raise NonRecoverableError(
                "ctx.instance can only be used in a node-instance context "
                "(use ctx.source.instance or ctx.target.instance)"
            )
        return self._instance

    @property
    def source(self) -> RelationshipSide:
        if self._source is None:
            raise NonRecoverableError("ctx.source is only available in relationship operations")
        return self._source

    @property
    def target(self) -> RelationshipSide:
        if self._target is None:
            raise NonRecoverableError("ctx.target is only available in relationship operations")
        return self._target

    def writable_instances(self) -> list[InstanceContext]:
        if self._instance is not None:
            return [self._instance]
        assert self._source is not None and self._target is not None
        return [self._source.instance, self._target.instance]

    # services of the worker -----------------------------------------------------------------
    @property
    def logger(self) -> logging.Logger:
        if self._logger is None:
            # An unmanaged Logger: registering one per operation in logging's manager would
            # leak in a long-lived runner.
            logger = logging.Logger(f"ctx.{self.task_id}", logging.DEBUG)
            logger.addHandler(_BackendHandler(self._backend))
            self._logger = logger
        return self._logger

    def send_event(self, message: str, event_type: str = "plugin_event", args: Any = None) -> None:
        self._backend.call(
            "send_event", {"message": message, "event_type": event_type, "args": args}
        )

    def get_secret(self, key: str) -> Any:
        return self._backend.call("get_secret", {"key": key})

    def get_resource(self, resource_path: str) -> bytes:
        data = self._backend.call("get_resource", {"path": resource_path})
        return data if isinstance(data, bytes) else str(data).encode()

    def get_resource_and_render(
        self, resource_path: str, template_variables: dict[str, Any] | None = None
    ) -> bytes:
        return self._render(self.get_resource(resource_path), template_variables)

    def download_resource(self, resource_path: str, target_path: str | None = None) -> str:
        return self._save(resource_path, self.get_resource(resource_path), target_path)

    def download_resource_and_render(
        self,
        resource_path: str,
        target_path: str | None = None,
        template_variables: dict[str, Any] | None = None,
    ) -> str:
        content = self.get_resource_and_render(resource_path, template_variables)
        return self._save(resource_path, content, target_path)

    def _render(self, content: bytes, template_variables: dict[str, Any] | None) -> bytes:
        text = content.decode("utf-8")
        if not needs_rendering(text):
            return content
        variables: dict[str, Any] = {"ctx": self}
        variables.update(template_variables or {})
        return render(text, variables).encode("utf-8")

    def _save(self, resource_path: str, content: bytes, target_path: str | None) -> str:
        if target_path is None:
            base = os.environ.get("CFY_EXEC_TEMPDIR") or None
            directory = tempfile.mkdtemp(prefix="resource-", dir=base)
            target_path = os.path.join(directory, os.path.basename(resource_path) or "resource")
        with open(target_path, "wb") as handle:
            handle.write(content)
        return target_path

    def close(self) -> None:
        if self._logger is not None:
            for handler in list(self._logger.handlers):
                self._logger.removeHandler(handler)


_binding: Binding[OperationContext] = Binding(
    "quarterdeck_ctx", "ctx is only available while an operation runs"
)
current = _binding.current
# `bound(context)` makes `context` what `ctx` means in this thread / task until the block ends.
bound = _binding.bound


class CtxProxy(Proxy):
    """`from quarterdeck import ctx`: forwards to the operation running in this context."""

    def __repr__(self) -> str:
        context = _binding.peek()
        return f"<ctx {context.task_id if context else 'unbound'}>"


ctx: Any = CtxProxy(_binding)
