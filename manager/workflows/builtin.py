"""Graph builders of the built-in workflows, keyed by the plan's workflow operation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from manager.db import Deployment, Execution
from manager.db import event_store as events
from manager.errors import CodedError
from manager.orchestration import scaling, updates
from manager.workflows.base import RunMore, Workflow
from manager.workflows.graph import Graph, Step
from manager.workflows.lifecycle import Builder
from manager.workflows.topology import LIFECYCLE, Instance
from manager.workflows.update import update as deployment_update

Build = Callable[[Builder, dict[str, Any]], None]

PREFIX = "cloudify.plugins.workflows."


def _selection(builder: Builder, params: dict[str, Any]) -> list[Instance]:
    return builder.topology.select(
        params.get("node_ids") or (),
        params.get("node_instance_ids") or (),
        params.get("type_names") or (),
    )


def _filtered(params: dict[str, Any]) -> bool:
    return any(params.get(k) for k in ("node_ids", "node_instance_ids", "type_names"))


def install(builder: Builder, params: dict[str, Any]) -> None:
    chosen = [i for i in _selection(builder, params) if i.state != "started"]
    ends = builder.install(chosen)
    if _filtered(params):
        builder.intact_relationships({i.id for i in chosen}, "establish", ends)


def uninstall(builder: Builder, params: dict[str, Any]) -> None:
    op = {"ignore_failure": bool(params.get("ignore_failure"))}
    chosen = [i for i in _selection(builder, params) if i.state not in ("uninitialized", "deleted")]
    _remove(builder, chosen, **op)


def reinstall(builder: Builder, params: dict[str, Any]) -> None:
    op = {"ignore_failure": bool(params.get("ignore_failure"))}
    chosen = _selection(builder, params)
    removed = _remove(builder, chosen, **op)
    installed = builder.install(chosen, _joined(builder.graph, removed))
    builder.intact_relationships(
        {i.id for i in chosen}, "establish", _joined(builder.graph, installed)
    )


def _remove(builder: Builder, instances: list[Instance], **op: Any) -> list[Step]:
    """Unlink the intact sources of `instances`, then uninstall them; returns the ends.
    (With no filter nothing outside `instances` is live, so there is nothing to unlink.)"""
    unlinked = builder.intact_relationships({i.id for i in instances}, "unlink", (), **op)
    return builder.uninstall(instances, _joined(builder.graph, unlinked), **op)


def _joined(graph: Graph, steps: list[Step]) -> list[Step]:
    if len(steps) <= 1:
        return steps
    join = graph.nop()
    join.after.update(steps)
    return [join]


def _run_operation(
    builder: Builder,
    instances: list[Instance],
    name: str,
    *,
    by_dependency_order: bool,
    reverse: bool = False,
    after: list[Step] | None = None,
    kwargs: dict[str, Any] | None = None,
    allow_kwargs_override: bool | None = None,
) -> list[Step]:
    """`name` on every instance that maps it; in dependency waves when asked."""
    ends: dict[str, Step] = {}
    order = builder.topology.dependency_order(instances)
    if reverse:
        order.reverse()
    selected = {i.id for i in order}
    dependents: dict[str, list[str]] = {}
    for instance in order:
        for target in instance.targets:
            if target in selected:
                dependents.setdefault(target, []).append(instance.id)
    start = list(after or [])
    for instance in order:
        deps: list[Step] = []
        if by_dependency_order:
            upstream = dependents.get(instance.id, []) if reverse else instance.targets
            deps = [ends[u] for u in upstream if u in ends]
        definition = builder.mapped(instance, name)
        if definition is None:
            # Nothing to run here, but dependents must still wait for what this one waits on.
            if deps:
                ends[instance.id] = _joined(builder.graph, deps)[0]
            continue
        step = builder.operation(
            instance, name, definition, kwargs=kwargs, allow_kwargs_override=allow_kwargs_override
        )
        step.after.update([*start, *deps])
        ends[instance.id] = step
    return list(ends.values())


def execute_operation(builder: Builder, params: dict[str, Any]) -> None:
    operation = params.get("operation")
    if not operation or not isinstance(operation, str):
        raise CodedError(
            "Parameter `operation` of execute_operation must name an operation",
            "illegal_execution_parameters_error",
        )
    _run_operation(
        builder,
        _selection(builder, params),
        operation,
        by_dependency_order=bool(params.get("run_by_dependency_order")),
        kwargs=params.get("operation_kwargs") or {},
        allow_kwargs_override=params.get("allow_kwargs_override"),
    )


def _ordered(params: dict[str, Any]) -> bool:
    value = params.get("run_by_dependency_order")
    return True if value is None else bool(value)


def _lifecycle(builder: Builder, params: dict[str, Any], operation: str) -> None:
    _run_operation(
        builder,
        _selection(builder, params),
        f"{LIFECYCLE}.{operation}",
        by_dependency_order=_ordered(params),
        kwargs=params.get("operation_parms") or None,
    )


def start(builder: Builder, params: dict[str, Any]) -> None:
    _lifecycle(builder, params, "start")


def stop(builder: Builder, params: dict[str, Any]) -> None:
    # Cloudify's stop runs targets first as well (lifecycle-traces.md §3, run 6).
    _lifecycle(builder, params, "stop")


def restart(builder: Builder, params: dict[str, Any]) -> None:
    chosen = _selection(builder, params)
    kwargs = params.get("stop_parms") or None
    stopped = _run_operation(
        builder, chosen, f"{LIFECYCLE}.stop", by_dependency_order=_ordered(params), kwargs=kwargs
    )
    _run_operation(
        builder,
        chosen,
        f"{LIFECYCLE}.start",
        by_dependency_order=_ordered(params),
        after=_joined(builder.graph, stopped),
        kwargs=params.get("start_parms") or None,
    )


def heal(builder: Builder, params: dict[str, Any]) -> None:
    """Heal the failing instance's host subgraph: `heal` where declared, else reinstall."""
    target_id = params.get("node_instance_id")
    topology = builder.topology
    if not target_id or target_id not in topology.instances:
        raise CodedError(
            f"Parameter `node_instance_id` of heal names no instance of this deployment: "
            f"{target_id!r}",
            "illegal_execution_parameters_error",
        )
    failing = topology.instances[target_id]
    root = failing.host_id if failing.host_id in topology.instances else failing.id
    scope = topology.dependency_order(topology.contained_subgraph(root))
    healable = [i for i in scope if builder.mapped(i, f"{LIFECYCLE}.heal")]
    others = [i for i in scope if not builder.mapped(i, f"{LIFECYCLE}.heal")]
    healed = _run_operation(builder, healable, f"{LIFECYCLE}.heal", by_dependency_order=True)
    if others:
        removed = builder.uninstall(others, _joined(builder.graph, healed))
        builder.install(others, _joined(builder.graph, removed))


def scale(builder: Builder, params: dict[str, Any]) -> None:
    """Install what the modification added / uninstall what it removes (orchestration.scaling)."""
    modification = params["_modification"]
    topology = builder.topology
    op = {"ignore_failure": bool(params.get("ignore_failure"))}
    added = [topology.instances[i] for i in modification["added"]]
    removed = [topology.instances[i] for i in modification["removed"]]
    if added:
        ends = builder.install(added)
        builder.intact_relationships(
            set(modification["added"]), "establish", _joined(builder.graph, ends)
        )
    if removed:
        _remove(builder, removed, **op)


def rollback(builder: Builder, params: dict[str, Any]) -> None:
    """Uninstall the instances a failed scale-out added, whatever fails on the way."""
    added = [builder.topology.instances[i] for i in params["_modification"]["added"]]
    _remove(builder, added, ignore_failure=True)


def check_status(builder: Builder, params: dict[str, Any]) -> None:
    _run_operation(
        builder,
        _selection(builder, params),
        "cloudify.interfaces.validation.check_status",
        by_dependency_order=False,
    )


class GraphWorkflow(Workflow):
    """A built-in workflow: a graph builder, and the installation status a success gives the
    deployment (install: active, uninstall: inactive)."""

    def __init__(self, build: Build, installation_status: str | None = None) -> None:
        self._build = build
        self.installation_status = installation_status

    def build(self, builder: Builder, parameters: dict[str, Any]) -> None:
        self._build(builder, parameters)

    def on_success(self, session: Session, execution: Execution, deployment: Deployment) -> None:
        if self.installation_status and not execution.is_dry_run:
            deployment.installation_status = self.installation_status


class ScaleWorkflow(GraphWorkflow):
    """scale / scale_entity: the deployment is modified before the graph is built (the new
    instances stored uninitialized), finished on success, and a failed scale-out uninstalls
    what it added and then forgets it."""

    def __init__(self) -> None:
        super().__init__(scale)

    def prepare(
        self, session: Session, deployment: Deployment, parameters: dict[str, Any]
    ) -> dict[str, Any]:
        return {scaling.KEY: scaling.prepare(session, deployment, parameters)}

    def on_success(self, session: Session, execution: Execution, deployment: Deployment) -> None:
        modification = execution.parameters.get(scaling.KEY)
        if modification and not execution.is_dry_run:
            scaling.finish(session, deployment, modification)

    def on_failure(
        self, session: Session, execution: Execution, deployment: Deployment, run_more: RunMore
    ) -> bool:
        modification = execution.parameters.get(scaling.KEY)
        if not modification or not modification.get("added") or not modification.get("rollback"):
            return False
        if modification.get("rolled_back"):
            scaling.undo(session, deployment, modification)
            return False
        execution.parameters = {
            **execution.parameters,
            scaling.KEY: {**modification, "rolled_back": True},
        }
        events.emit(
            session,
            execution,
            [
                {
                    "type": "cloudify_event",
                    "event_type": "workflow_event",
                    "message": "Scale failed: rolling back the instances it added",
                }
            ],
        )
        if run_more(lambda builder: rollback(builder, execution.parameters)):
            return True
        scaling.undo(session, deployment, modification)  # nothing to run: finish it now
        return False


class UpdateWorkflow(GraphWorkflow):
    """A deployment update's `update` (started by `manager.services.deployment_updates`):
    on success the rows the update kept for its graph's sake go and the update is
    `successful`; a failure or a cancel leaves the update `failed`."""

    def __init__(self) -> None:
        super().__init__(deployment_update)

    def on_success(self, session: Session, execution: Execution, deployment: Deployment) -> None:
        if not execution.is_dry_run:
            updates.finish(session, execution)

    def on_failure(
        self, session: Session, execution: Execution, deployment: Deployment, run_more: RunMore
    ) -> bool:
        updates.fail(session, execution)
        return False

    def on_cancelled(self, session: Session, execution: Execution, deployment: Deployment) -> None:
        updates.fail(session, execution)


# The built-in workflows by the plan's workflow operation. Adding one is adding a line.
BUILTIN: dict[str, Workflow] = {
    PREFIX + "install": GraphWorkflow(install, installation_status="active"),
    PREFIX + "uninstall": GraphWorkflow(uninstall, installation_status="inactive"),
    PREFIX + "reinstall": GraphWorkflow(reinstall),
    PREFIX + "execute_operation": GraphWorkflow(execute_operation),
    PREFIX + "start": GraphWorkflow(start),
    PREFIX + "stop": GraphWorkflow(stop),
    PREFIX + "restart": GraphWorkflow(restart),
    PREFIX + "heal": GraphWorkflow(heal),
    PREFIX + "auto_heal_reinstall_node_subgraph": GraphWorkflow(heal),
    PREFIX + "check_status": GraphWorkflow(check_status),
    PREFIX + "scale_entity": ScaleWorkflow(),
    PREFIX + "scale": ScaleWorkflow(),
    # Run by deployment updates only (manager.services.deployment_updates).
    PREFIX + "update": UpdateWorkflow(),
}
UPDATE = PREFIX + "update"
