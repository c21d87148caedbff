"""What `cloudify.plugins.lifecycle` and `cloudify.plugins.workflows` give custom workflows:
install and uninstall a set of node instances in a task graph, and `execute_operation`.

The per-instance sequence is the node's lifecycle operations with the state changes between
them; relationship operations are not run from here (the built-in install does them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from quarterdeck.workflow import Task, TaskGraph, WorkflowNodeInstance

LIFECYCLE = "cloudify.interfaces.lifecycle"
INSTALL = (
    ("initializing", ("precreate",)),
    ("creating", ("create",)),
    ("created", ()),
    ("configuring", ("configure",)),
    ("configured", ()),
    ("starting", ("start", "poststart")),
    ("started", ()),
)
UNINSTALL = (
    ("stopping", ("prestop", "stop")),
    ("stopped", ()),
    ("deleting", ("delete", "postdelete")),
    ("deleted", ()),
)


def _mapped(instance: WorkflowNodeInstance, name: str) -> bool:
    definition = instance.node.operations.get(name)
    return isinstance(definition, dict) and bool(definition.get("operation"))


def _sequence(
    graph: TaskGraph, instance: WorkflowNodeInstance, steps: Any, **op: Any
) -> tuple[Task, Task]:
    """The tasks of one instance in order; returns (first, last)."""
    sequence = graph.sequence()
    first: Task | None = None
    for state, operations in steps:
        tasks: list[Task] = [instance.set_state(state)]
        for name in operations:
            full = f"{LIFECYCLE}.{name}"
            if _mapped(instance, full):
                tasks.append(instance.execute_operation(full, **op))
        sequence.add(*tasks)
        first = first or tasks[0]
    assert first is not None and sequence.last is not None
    return first, sequence.last


def install_node_instances(
    graph: TaskGraph, node_instances: Iterable[WorkflowNodeInstance], related_nodes: Any = None
) -> None:
    """Install `node_instances` in `graph`: each after the ones among them it relates to."""
    chosen = list(node_instances)
    ends = {i.id: _sequence(graph, i, INSTALL) for i in chosen}
    for instance in chosen:
        for target in instance.target_ids:
            if target in ends and target != instance.id:
                graph.add_dependency(ends[instance.id][0], ends[target][1])


def uninstall_node_instances(
    graph: TaskGraph,
    node_instances: Iterable[WorkflowNodeInstance],
    ignore_failure: bool = False,
    related_nodes: Any = None,
) -> None:
    """Uninstall `node_instances` in `graph`: each after the ones among them relating to it."""
    chosen = list(node_instances)
    ends = {i.id: _sequence(graph, i, UNINSTALL) for i in chosen}
    for instance in chosen:
        for target in instance.target_ids:
            if target in ends and target != instance.id:
                graph.add_dependency(ends[target][0], ends[instance.id][1])


def install(ctx: Any, **kwargs: Any) -> None:
    install_node_instances(ctx.graph_mode(), ctx.node_instances)
    ctx.graph.execute()


def uninstall(ctx: Any, ignore_failure: bool = False, **kwargs: Any) -> None:
    uninstall_node_instances(ctx.graph_mode(), ctx.node_instances, ignore_failure)
    ctx.graph.execute()


def execute_operation(
    ctx: Any,
    operation: str,
    operation_kwargs: dict[str, Any] | None = None,
    allow_kwargs_override: bool | None = None,
    run_by_dependency_order: bool = False,
    type_names: Iterable[str] = (),
    node_ids: Iterable[str] = (),
    node_instance_ids: Iterable[str] = (),
    **kwargs: Any,
) -> None:
    """Run `operation` on the chosen instances (all, without a filter), each after its
    relationships' targets when `run_by_dependency_order`."""
    types, nodes, ids = set(type_names or ()), set(node_ids or ()), set(node_instance_ids or ())
    graph = ctx.graph_mode()
    chosen = [
        i
        for i in ctx.node_instances
        if (not types or types & set(i.node.type_hierarchy))
        and (not nodes or i.node_id in nodes)
        and (not ids or i.id in ids)
    ]
    tasks: dict[str, Task] = {}
    for instance in chosen:
        task = instance.execute_operation(
            operation, kwargs=operation_kwargs, allow_kwargs_override=allow_kwargs_override
        )
        tasks[instance.id] = graph.add_task(task)
    if run_by_dependency_order:
        for instance in chosen:
            for target in instance.target_ids:
                if target in tasks and target != instance.id:
                    graph.add_dependency(tasks[instance.id], tasks[target])
    graph.execute()
