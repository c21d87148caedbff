"""What a worker needs to run one claimed operation: the context the claim returns.

Runtime functions in the operation's inputs (`get_attribute`, `get_secret`, ...) are
evaluated here, at dispatch time, so an operation sees what earlier operations stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any, cast

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from manager.db import Deployment, Execution, Node, NodeInstance, Operation, Plugin
from manager.db.deployments import of_deployment
from manager.dsl import DslError, evaluate_functions
from manager.errors import NotFound
from manager.orchestration.task_events import retry_number, task_name
from manager.services import blueprints, context_cache, plugins
from manager.services.context_cache import NodeFacts, Shared
from manager.services.executions import execution_token
from manager.services.function_storage import DeploymentStorage, instance_dict, node_dict
from manager.services.identity import Principal
from manager.settings import Settings
from manager.workflows.custom import BODY_TASK, is_body
from wire.operations import OperationContext, PluginSpec, RelationshipSide


class ContextError(Exception):
    """The operation cannot be dispatched (a function in its inputs failed, ...)."""


def _shared_of(session: Session, settings: Settings, execution: Execution) -> Shared:
    cache = context_cache.of(session)
    found = cache.get(execution.id)
    if found is not None:
        return found
    deployment = execution.deployment
    assert deployment is not None
    found = Shared(
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
    cache.put(execution.id, found)
    return found


def _uploaded(
    session: Session, shared: Shared, plugin: dict[str, Any], first_attempt: bool
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
    session: Session, settings: Settings, shared: Shared, reader: Callable[[], Principal]
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


# The node instances of a claim batch, with the columns a context shows (instance_dict),
# read as plain rows. (Built once: building it cost as much as running it.)
_INSTANCES = select(
    NodeInstance.id,
    NodeInstance.node_id,
    NodeInstance.host_id,
    NodeInstance.state,
    NodeInstance.runtime_properties,
    NodeInstance.relationships,
    NodeInstance.scaling_groups,
    NodeInstance.index,
    NodeInstance.version,
).where(of_deployment(bindparam("deployment_pk"), bindparam("ids", expanding=True)))


def _instances(session: Session, deployment_pk: int, ids: set[str]) -> dict[str, Any]:
    found = session.execute(_INSTANCES, {"deployment_pk": deployment_pk, "ids": list(ids)})
    return {row.id: row for row in found}


def _read_nodes(
    session: Session, shared: Shared, operations: list[Any], instances: dict[str, Any]
) -> None:
    """Read what the contexts of `operations` (of one execution) show of their nodes and
    was not read yet: the nodes, and the operation or relationship each runs."""
    node_ids: set[str] = set()
    for operation in operations:
        if not is_body(operation.parameters):
            node_ids.add(operation.parameters["node_id"])
            ids = _instance_ids(operation)
            node_ids |= {instances[i].node_id for i in ids if i in instances}
    context_cache.load_nodes(session, shared, node_ids)
    specs: set[tuple[str, str]] = set()
    relationships: set[tuple[str, int]] = set()
    for operation in operations:
        params = operation.parameters
        if is_body(params):
            continue
        if params.get("relationship"):
            relationships.add((params["node_id"], params["relationship"]["index"]))
        else:
            specs.add((params["node_id"], operation.name))
    context_cache.load_operations(session, shared, specs)
    context_cache.load_relationships(session, shared, relationships)


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
    their node instances, and what they show of nodes not read before, read in a few
    queries per execution."""
    claimed = list(claimed)
    creators = _Creators()
    wanted: dict[str, tuple[Execution, list[Any]]] = {}
    for operation, execution in claimed:
        wanted.setdefault(execution.id, (execution, []))[1].append(operation)
    instances: dict[str, dict[str, Any]] = {}
    for execution_id, (execution, operations) in wanted.items():
        shared = _shared_of(session, settings, execution)
        ids = set().union(*(_instance_ids(operation) for operation in operations))
        instances[execution_id] = _instances(session, shared.deployment_pk, ids)
        _read_nodes(session, shared, operations, instances[execution_id])
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
    instances: dict[str, Any] | None = None,
    creators: _Creators | None = None,
) -> OperationContext:
    """The claim's context of `operation` (an Operation, or a row with its columns); the
    node instances it shows (rows with instance_dict's columns) are read unless given."""
    shared = _shared_of(session, settings, execution)
    reader = (creators or _Creators()).reader(execution)
    params = operation.parameters
    if is_body(params):
        return _body_context(session, settings, operation, execution, shared, reader)
    relationship = params.get("relationship")
    if instances is None:  # (else build_many read them, and what they show of nodes)
        instances = _instances(session, shared.deployment_pk, _instance_ids(operation))
        _read_nodes(session, shared, [operation], instances)
    nodes = shared.nodes
    source_node = nodes[params["node_id"]]
    if relationship:
        definition = source_node.relationships[relationship["index"]]
        assert definition is not None, f"no relationship {relationship['index']}"
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
                "node": dict(nodes[side_instance.node_id].view),
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
        "node": dict(node.view),
        "instance": instance_dict(instance),
        "host_id": instance.host_id,
        "source": sides.get("source"),
        "target": sides.get("target"),
        "blueprint_dir": shared.blueprint_dir,
        "resume": bool(params.get("resume")),
        "execution_token": _token(shared, settings, execution.id),
        "execution_creator": shared.creator,
        "workflow_parameters": execution.parameters,
    }


def _token(shared: Shared, settings: Settings, execution_id: str) -> str:
    """The execution's token, derived once per execution (and secret key)."""
    if shared.token is None or shared.token[0] != settings.secret_key:
        shared.token = (settings.secret_key, execution_token(settings.secret_key, execution_id))
    return shared.token[1]


def _body_context(
    session: Session,
    settings: Settings,
    operation: Any,
    execution: Execution,
    shared: Shared,
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
            of_deployment(deployment.pk, [operation.node_instance_id])
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


def _plugin(nodes: Iterable[Node | NodeFacts], name: str | None) -> dict[str, Any]:
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


def _node_plugin(node: Node | NodeFacts, name: str | None) -> dict[str, Any] | None:
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


def deployment_of(session: Session, operation: Operation) -> Deployment:
    execution = session.get(Execution, operation.execution_id)
    assert execution is not None and execution.deployment is not None
    return execution.deployment
