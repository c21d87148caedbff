"""The graph of a deployment update's `update` workflow.

What the update changed was stored before the graph is built (manager.services.
deployment_updates): added nodes and instances exist as `uninitialized` rows, removed ones
are still there, and changed relationships list both old and new targets. The parameters
under `_update` name them. The phases, each after the previous one:

1. unlink the removed relationships of instances that stay, then uninstall the removed
   instances (not with `skip_uninstall`);
2. uninstall the instances to reinstall: those of nodes whose operations or properties
   changed (not with `skip_reinstall`) and those of `reinstall_list`, with what they
   contain;
3. install the added instances and the reinstalled ones, in dependency order, then establish
   the added relationships of instances that stay (the added instances not with
   `skip_install`).

With `install_first` the added instances are installed (and added relationships
established) first, then removals and reinstalls follow.
"""

from __future__ import annotations

from typing import Any

from manager.errors import CodedError
from manager.workflows.graph import Graph, Step
from manager.workflows.lifecycle import Builder
from manager.workflows.topology import Instance

# The key a deployment update's execution parameters keep its plan under.
KEY = "_update"
NOT_LIVE = ("uninitialized", "deleted")


def _join(graph: Graph, steps: list[Step]) -> list[Step]:
    if len(steps) <= 1:
        return steps
    join = graph.nop()
    join.after.update(steps)
    return [join]


def _live(instances: list[Instance]) -> list[Instance]:
    return [i for i in instances if i.state not in NOT_LIVE]


def _reinstalled(builder: Builder, plan: dict[str, Any], excluded: set[str]) -> list[Instance]:
    """Live instances of the changed nodes (unless `skip_reinstall`) and those the caller
    listed (`reinstall_list`, always), with everything contained in them."""
    topology = builder.topology
    nodes = set() if plan.get("skip_reinstall") else set(plan["reinstall_nodes"])
    listed = set(plan.get("reinstall_instances") or ())
    chosen: dict[str, Instance] = {}
    for instance in topology.instances.values():
        wanted = instance.node.id in nodes or instance.id in listed
        if wanted and instance.id not in excluded:
            for member in topology.contained_subgraph(instance.id):
                if member.id not in excluded:
                    chosen[member.id] = member
    return _live(list(chosen.values()))


def _linked(
    builder: Builder,
    relationships: dict[str, list[str]],
    operation: str,
    skip: set[str],
    after: list[Step],
    **op: Any,
) -> list[Step]:
    """establish/unlink of the listed relationships of live instances outside `skip`
    whose targets are outside `skip` too (the others are handled with those instances)."""
    ends = []
    for source_id, targets in sorted(relationships.items()):
        source = builder.topology.instances.get(source_id)
        if source is None or source_id in skip or source.state in NOT_LIVE:
            continue
        wanted = {t for t in targets if t not in skip}
        if wanted:
            end = builder.relationship_operations(source, wanted, operation, after, **op)
            if end is not None:
                ends.append(end)
    return ends


def _uninstall(
    builder: Builder, instances: list[Instance], after: list[Step], **op: Any
) -> list[Step]:
    """Unlink the intact sources of `instances`, then uninstall them."""
    if not instances:
        return after
    ids = {i.id for i in instances}
    unlinked = builder.intact_relationships(ids, "unlink", after, **op)
    ends = builder.uninstall(instances, _join(builder.graph, unlinked) or after, **op)
    return _join(builder.graph, ends) or after


def _install(builder: Builder, instances: list[Instance], after: list[Step]) -> list[Step]:
    """Install `instances`, then establish the relationships of intact sources towards them."""
    if not instances:
        return after
    ids = {i.id for i in instances}
    ends = _join(builder.graph, builder.install(instances, after)) or after
    established = builder.intact_relationships(ids, "establish", ends)
    return _join(builder.graph, established) or ends


def update(builder: Builder, params: dict[str, Any]) -> None:
    plan = params.get(KEY)
    if not plan:
        raise CodedError(
            "The `update` workflow runs only as part of a deployment update: use "
            "`cfy deployments update` (POST /deployment-updates/<deployment>/update/initiate)",
            "illegal_execution_parameters_error",
        )
    graph, topology = builder.graph, builder.topology
    op = {"ignore_failure": bool(plan.get("ignore_failure"))}
    added = [topology.instances[i] for i in plan["added"] if i in topology.instances]
    removed = _live([topology.instances[i] for i in plan["removed"] if i in topology.instances])
    changed = {i.id for i in added} | set(plan["removed"])
    reinstall = _reinstalled(builder, plan, changed)
    to_install = [] if plan.get("skip_install") else added
    to_remove = [] if plan.get("skip_uninstall") else removed
    moving = {i.id for i in [*to_install, *to_remove, *reinstall]}

    def unlink_and_remove(after: list[Step]) -> list[Step]:
        unlinked = _linked(builder, plan["removed_relationships"], "unlink", moving, after, **op)
        return _uninstall(builder, to_remove, _join(graph, unlinked) or after, **op)

    def establish(after: list[Step]) -> list[Step]:
        return (
            _join(graph, _linked(builder, plan["added_relationships"], "establish", moving, after))
            or after
        )

    if plan.get("install_first"):
        ends = establish(_install(builder, to_install, []))
        ends = unlink_and_remove(ends)
        ends = _uninstall(builder, reinstall, ends, **op)
        _install(builder, reinstall, ends)
    else:
        ends = unlink_and_remove([])
        ends = _uninstall(builder, reinstall, ends, **op)
        establish(_install(builder, [*to_install, *reinstall], ends))
