"""What a worker needs to run one claimed operation: the context the claim returns.

Runtime functions in the operation's inputs (`get_attribute`, `get_secret`, ...) are
evaluated here, at dispatch time, so an operation sees what earlier operations stored.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Deployment, Execution, Node, NodeInstance, Operation, Plugin
from manager.dsl import DslError, evaluate_functions
from manager.errors import NotFound
from manager.orchestration.task_events import retry_number, task_name
from manager.services import blueprints, plugins
from manager.services.executions import execution_token
from manager.services.function_storage import DeploymentStorage, instance_dict, node_dict
from manager.services.identity import Principal
from manager.settings import Settings
from manager.workflows.custom import BODY_TASK, is_body
from wire.operations import OperationContext, PluginSpec, RelationshipSide


class ContextError(Exception):
    """The operation cannot be dispatched (a function in its inputs failed, ...)."""


@dataclass
class _Shared:
    """What every operation of one execution sees the same, read once per API process: the
    deployment's names and the nodes and uploaded plugins its operations used so far. None
    of it changes while the execution runs (but see `_uploaded`)."""

    deployment_pk: int
    deployment_id: str
    display_name: str | None
    tenant_pk: int
    tenant_name: str
    blueprint_id: str
    blueprint_dir: str
    creator: str | None
    nodes: dict[str, Node] = field(default_factory=dict)
    plugins: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    # The deployment's `resource_tags` with their functions evaluated (None: not yet).
    resource_tags: dict[str, Any] | None = None


_SHARED_LIMIT = 64
_shared: OrderedDict[str, _Shared] = OrderedDict()
_shared_lock = threading.Lock()


def _shared_of(session: Session, settings: Settings, execution: Execution) -> _Shared:
    with _shared_lock:
        found = _shared.get(execution.id)
        if found is not None:
            _shared.move_to_end(execution.id)
            return found
    deployment = execution.deployment
    assert deployment is not None
    found = _Shared(
        deployment_pk=deployment.pk,
        deployment_id=deployment.id,
        display_name=deployment.display_name,
        tenant_pk=deployment.tenant_pk,
        tenant_name=deployment.tenant.name,
        blueprint_id=deployment.blueprint.id,
        blueprint_dir=str(
            blueprints.blueprint_dir(settings, deployment.tenant.name, deployment.blueprint.id)
        ),
        creator=execution.creator.username if execution.creator else None,
    )
    with _shared_lock:
        _shared[execution.id] = found
        while len(_shared) > _SHARED_LIMIT:
            _shared.popitem(last=False)
    return found


def _nodes(session: Session, shared: _Shared, node_ids: set[str]) -> dict[str, Node]:
    missing = node_ids - shared.nodes.keys()
    if missing:
        query = select(Node).where(Node.deployment_pk == shared.deployment_pk)
        if shared.nodes:  # (the first time, all of them: most will be needed)
            query = query.where(Node.id.in_(missing))
        for node in session.scalars(query):
            session.expunge(node)  # kept, fully loaded, beyond this session
            shared.nodes[node.id] = node
    return {i: shared.nodes[i] for i in node_ids if i in shared.nodes}


def _uploaded(
    session: Session, shared: _Shared, plugin: dict[str, Any], first_attempt: bool
) -> dict[str, Any]:
    """What the plugin's upload adds to the plugin's description (empty: not uploaded).

    That a plugin is not uploaded is remembered for first attempts only: a retried or
    resumed operation looks again, so uploading the missing plugin and resuming works."""
    key = (plugin.get("name"), plugin.get("package_name"), plugin.get("package_version"))
    if key in shared.plugins and (shared.plugins[key] or first_attempt):
        return shared.plugins[key]
    view = _tenant_principal(shared.tenant_pk, shared.tenant_name)
    uploaded = _find_uploaded(session, view, plugin)
    if uploaded is None:
        shared.plugins[key] = {}
        return {}
    found = {
        "id": uploaded.id,
        "package_version": uploaded.package_version,
        "archive_name": uploaded.archive_name,
        "visibility": uploaded.visibility,
        "tenant_name": uploaded.tenant.name,
    }
    shared.plugins[key] = found
    return found


def _resource_tags(
    session: Session, settings: Settings, shared: _Shared, reader: Callable[[], Principal]
) -> dict[str, Any]:
    """The deployment's `resource_tags`, evaluated once per execution as Cloudify's workflow
    context does before it hands them to operations (`ctx.deployment.resource_tags`); their
    secrets resolve for the execution's creator, as operation inputs do."""
    if shared.resource_tags is None:
        deployment = session.get(Deployment, shared.deployment_pk)
        assert deployment is not None
        raw = deployment.resource_tags or {}
        try:
            storage = DeploymentStorage(session, deployment, settings.secret_key, reader)
            shared.resource_tags = evaluate_functions(raw, {}, storage) if raw else {}
        except DslError as exc:
            raise ContextError(
                f"Evaluating the resource_tags of deployment {shared.deployment_id} failed: {exc}"
            ) from exc
    return shared.resource_tags


def _instance_ids(operation: Any) -> set[str]:
    """The node instances an operation's context shows."""
    relationship = operation.parameters.get("relationship")
    if relationship:
        return {operation.node_instance_id, relationship["source_id"], relationship["target_id"]}
    return {operation.node_instance_id}


def _instances(session: Session, deployment_pk: int, ids: set[str]) -> dict[str, NodeInstance]:
    return {
        i.id: i
        for i in session.scalars(
            select(NodeInstance).where(
                NodeInstance.deployment_pk == deployment_pk, NodeInstance.id.in_(ids)
            )
        )
    }


class _Creators:
    """Whom each execution's `get_secret` resolves for (its creator), read once per claim
    batch and only when an operation of the batch actually reads a secret."""

    def __init__(self) -> None:
        self.found: dict[str, Principal] = {}

    def reader(self, execution: Execution) -> Callable[[], Principal]:
        def read() -> Principal:
            if execution.id not in self.found:
                self.found[execution.id] = creator_principal(execution)
            return self.found[execution.id]

        return read


def creator_principal(execution: Execution) -> Principal:
    """The execution's creator acting in the execution's tenant, as its execution token does:
    secrets resolve for them under the rules of `GET /secrets/<key>`. A creator since deleted
    is nobody in particular: no private secret and no hidden value."""
    tenant_name = execution.tenant.name
    creator = execution.creator
    if creator is None:
        return Principal(0, "(deleted user)", "default", execution.tenant_pk, tenant_name, None)
    role = "sys_admin" if creator.role == "sys_admin" else None
    for membership in creator.memberships if role is None else ():
        if membership.tenant_pk == execution.tenant_pk:
            role = membership.role
    return Principal(
        creator.pk, creator.username, creator.role, execution.tenant_pk, tenant_name, role
    )


def build_many(
    session: Session, settings: Settings, claimed: Iterable[tuple[Any, Execution]]
) -> list[OperationContext | ContextError]:
    """The contexts of several claimed operations (what `build` gives, or raises, for each),
    their node instances read in one query per execution."""
    claimed = list(claimed)
    creators = _Creators()
    wanted: dict[str, tuple[Execution, set[str]]] = {}
    for operation, execution in claimed:
        wanted.setdefault(execution.id, (execution, set()))[1].update(_instance_ids(operation))
    instances = {
        execution_id: _instances(
            session, _shared_of(session, settings, execution).deployment_pk, ids
        )
        for execution_id, (execution, ids) in wanted.items()
    }
    contexts: list[OperationContext | ContextError] = []
    for operation, execution in claimed:
        try:
            contexts.append(
                build(session, settings, operation, execution, instances[execution.id], creators)
            )
        except ContextError as exc:
            contexts.append(exc)
    return contexts


def build(
    session: Session,
    settings: Settings,
    operation: Any,
    execution: Execution,
    instances: dict[str, NodeInstance] | None = None,
    creators: _Creators | None = None,
) -> OperationContext:
    """The claim's context of `operation` (an Operation, or a row with its columns); the
    node instances it shows are read unless given."""
    shared = _shared_of(session, settings, execution)
    reader = (creators or _Creators()).reader(execution)
    params = operation.parameters
    if is_body(params):
        return _body_context(session, settings, operation, execution, shared, reader)
    relationship = params.get("relationship")
    node_ids = {params["node_id"]}
    if instances is None:
        instances = _instances(session, shared.deployment_pk, _instance_ids(operation))
    node_ids |= {instances[i].node_id for i in _instance_ids(operation) if i in instances}
    nodes = _nodes(session, shared, node_ids)
    source_node = nodes[params["node_id"]]
    if relationship:
        definition = source_node.relationships[relationship["index"]]
        operations = definition.get(f"{relationship['side']}_operations") or {}
        spec = operations.get(operation.name) or operations.get(operation.name.rsplit(".", 1)[-1])
        evaluation_context = {
            "source": relationship["source_id"],
            "target": relationship["target_id"],
        }
    else:
        spec = source_node.operations.get(operation.name)
        evaluation_context = {"self": operation.node_instance_id}
    spec = spec or {}
    inputs = copy.deepcopy(spec.get("inputs") or {})
    kwargs = params.get("kwargs") or {}
    if kwargs:
        if params.get("allow_kwargs_override") is False:
            clash = sorted(set(kwargs) & set(inputs))
            if clash:
                raise ContextError(
                    f"operation_kwargs {clash} override inputs declared by {operation.name}; "
                    "set allow_kwargs_override to allow it"
                )
        inputs.update(copy.deepcopy(kwargs))
    if spec.get("has_intrinsic_functions") or kwargs:
        deployment = session.get(Deployment, shared.deployment_pk)
        assert deployment is not None
        storage = DeploymentStorage(session, deployment, settings.secret_key, reader)
        try:
            inputs = evaluate_functions(inputs, evaluation_context, storage)
        except DslError as exc:
            raise ContextError(f"Evaluating the inputs of {operation.name} failed: {exc}") from exc
    instance = instances[str(operation.node_instance_id)]
    node = nodes[instance.node_id]
    # A target-side relationship operation's plugin is listed on the target's node.
    plugin = _plugin((source_node, node), spec.get("plugin"))
    if plugin.get("install", True) and plugin.get("package_name"):
        plugin.update(_uploaded(session, shared, plugin, operation.attempt == 1))
    sides: dict[str, RelationshipSide] = {}
    if relationship:
        for side in ("source", "target"):
            side_instance = instances[relationship[f"{side}_id"]]
            sides[side] = {
                "node": _node(nodes[side_instance.node_id]),
                "instance": instance_dict(side_instance),
            }
    return {
        "operation_id": operation.id,
        "attempt": operation.attempt,
        "execution_id": execution.id,
        "workflow_id": execution.workflow_id,
        "tenant": shared.tenant_name,
        "blueprint_id": shared.blueprint_id,
        "deployment_id": shared.deployment_id,
        "deployment_display_name": shared.display_name,
        "deployment_resource_tags": _resource_tags(session, settings, shared, reader),
        "queue": operation.queue,
        "operation": {
            "name": operation.name,
            "retry_number": retry_number(operation),
            "max_retries": operation.max_retries,
            "relationship": relationship["side"] if relationship else None,
        },
        "task_name": task_name(operation),
        "implementation": spec.get("implementation"),
        "executor": spec.get("executor") or plugin.get("executor"),
        # (Built from the blueprint's plugin entry: the keys of a PluginSpec.)
        "plugin": cast(PluginSpec, plugin),
        "inputs": inputs,
        "timeout": operation.timeout,
        "timeout_recoverable": bool(spec.get("timeout_recoverable")),
        "has_intrinsic_functions": bool(spec.get("has_intrinsic_functions")),
        "node": _node(node),
        "instance": instance_dict(instance),
        "host_id": instance.host_id,
        "source": sides.get("source"),
        "target": sides.get("target"),
        "blueprint_dir": shared.blueprint_dir,
        "resume": bool(params.get("resume")),
        "execution_token": execution_token(settings.secret_key, execution.id),
        "execution_creator": shared.creator,
        "workflow_parameters": execution.parameters,
    }


def _body_context(
    session: Session,
    settings: Settings,
    operation: Any,
    execution: Execution,
    shared: _Shared,
    reader: Callable[[], Principal],
) -> OperationContext:
    """The context of a custom workflow's body: no node instance of its own; its inputs are
    what the SDK's workflow host needs (the mapping, the parameters, the deployment's nodes
    and instances as they are now)."""
    deployment = session.get(Deployment, shared.deployment_pk)
    assert deployment is not None
    plan = deployment.blueprint.plan or {}
    name = operation.parameters.get("plugin")
    plugin = _plugin((), name)
    for entry in plan.get("workflow_plugins_to_install") or []:
        if entry.get("name") == name:
            plugin = _plugin_spec(entry)
    if plugin.get("install", True) and plugin.get("package_name"):
        plugin.update(_uploaded(session, shared, plugin, operation.attempt == 1))
    nodes = session.scalars(select(Node).where(Node.deployment_pk == shared.deployment_pk))
    instances = session.scalars(
        select(NodeInstance).where(NodeInstance.deployment_pk == shared.deployment_pk)
    )
    body = operation.parameters["workflow"]
    return {
        "operation_id": operation.id,
        "attempt": operation.attempt,
        "execution_id": execution.id,
        "workflow_id": execution.workflow_id,
        "tenant": shared.tenant_name,
        "blueprint_id": shared.blueprint_id,
        "deployment_id": shared.deployment_id,
        "deployment_display_name": shared.display_name,
        "deployment_resource_tags": _resource_tags(session, settings, shared, reader),
        "queue": operation.queue,
        "operation": {
            "name": operation.name,
            "retry_number": retry_number(operation),
            "max_retries": operation.max_retries,
            "relationship": None,
        },
        "task_name": BODY_TASK,
        "implementation": None,
        "executor": plugin.get("executor"),
        "plugin": cast(PluginSpec, plugin),
        "inputs": {
            "mapping": body["mapping"],
            "workflow_id": body["id"],
            "parameters": dict(execution.parameters),
            "nodes": [
                {**node_dict(n), "number_of_instances": n.number_of_instances} for n in nodes
            ],
            "instances": [instance_dict(i) for i in instances],
        },
        "timeout": None,
        "timeout_recoverable": False,
        "has_intrinsic_functions": False,
        "node": {},
        "instance": {},
        "host_id": None,
        "source": None,
        "target": None,
        "blueprint_dir": shared.blueprint_dir,
        # (A body is always safe to run again: see manager.workflows.custom.)
        "resume": False,
        "execution_token": execution_token(settings.secret_key, execution.id),
        "execution_creator": shared.creator,
        "workflow_parameters": execution.parameters,
    }


def tenant_view(deployment: Deployment) -> Principal:
    """Everything the deployment's tenant owns (and global rows): what its operations may use,
    whoever started the execution."""
    return _tenant_principal(deployment.tenant_pk, deployment.tenant.name)


def _tenant_principal(tenant_pk: int, tenant_name: str) -> Principal:
    return Principal(
        user_pk=0,
        username="quarterdeck",
        system_role="sys_admin",
        tenant_pk=tenant_pk,
        tenant_name=tenant_name,
        role="sys_admin",
    )


def uploaded_plugin(
    session: Session, deployment: Deployment, plugin: dict[str, Any]
) -> Plugin | None:
    """The uploaded plugin (wagon, wheel or sdist) a managed plugin of an operation runs from:
    the newest upload of its package matching its version, if it names one."""
    if not plugin.get("install", True) or not plugin.get("package_name"):
        return None
    return _find_uploaded(session, tenant_view(deployment), plugin)


def _find_uploaded(session: Session, view: Principal, plugin: dict[str, Any]) -> Plugin | None:
    version = plugin.get("package_version")
    return plugins.find_plugin(
        session, view, str(plugin["package_name"]), version=str(version) if version else None
    )


def operation_plugin(session: Session, operation: Operation, deployment: Deployment) -> Plugin:
    """The uploaded plugin of a claimed operation (what its worker downloads)."""
    params = operation.parameters
    node_ids = {params["node_id"]}
    instance_node = session.scalar(
        select(NodeInstance.node_id).where(
            NodeInstance.deployment_pk == deployment.pk,
            NodeInstance.id == operation.node_instance_id,
        )
    )
    if instance_node:
        node_ids.add(instance_node)
    nodes = {
        n.id: n
        for n in session.scalars(
            select(Node).where(Node.deployment_pk == deployment.pk, Node.id.in_(node_ids))
        )
    }
    ordered = [nodes[i] for i in (params["node_id"], instance_node) if i in nodes]
    found = uploaded_plugin(session, deployment, _plugin(ordered, params.get("plugin")))
    if found is None:
        raise NotFound(f"Operation `{operation.id}` runs no uploaded plugin")
    return found


def _plugin(nodes: Iterable[Node], name: str | None) -> dict[str, Any]:
    for node in nodes:
        found = _node_plugin(node, name)
        if found is not None:
            return found
    return {
        "name": name,
        "package_name": None,
        "package_version": None,
        "source": None,
        "install": False,
        "executor": None,
        "properties": {},
    }


def _node_plugin(node: Node, name: str | None) -> dict[str, Any] | None:
    for plugin in node.plugins or []:
        if plugin.get("name") == name:
            return _plugin_spec(plugin)
    return None


def _plugin_spec(plugin: dict[str, Any]) -> dict[str, Any]:
    """A plan's plugin entry, as a PluginSpec."""
    return {
        "name": plugin.get("name"),
        "package_name": plugin.get("package_name"),
        "package_version": plugin.get("package_version"),
        "source": plugin.get("source"),
        "install": plugin.get("install", True),
        "install_arguments": plugin.get("install_arguments"),
        "executor": plugin.get("executor"),
        "properties": plugin.get("properties") or {},
    }


def _node(node: Node) -> dict[str, Any]:
    """What plugins read of a node (its operations and relationships stay on the API)."""
    keep = ("id", "name", "type", "type_hierarchy", "properties")
    found = {k: v for k, v in node_dict(node).items() if k in keep}
    found["number_of_instances"] = node.number_of_instances
    return found


def deployment_of(session: Session, operation: Operation) -> Deployment:
    execution = session.get(Execution, operation.execution_id)
    assert execution is not None and execution.deployment is not None
    return execution.deployment
