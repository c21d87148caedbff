"""The per-instance install and uninstall sequences of Cloudify's built-in workflows.

The order, states and messages are those recorded in shared/reference/lifecycle-traces.md
(§2): operations of one instance run strictly in sequence; relationship operations run in
groups, one per target node in declaration order (reversed for unlink), source and target
sides of a group in parallel; a source instance starts after its targets ended (install)
and its targets start after it ended (uninstall).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from manager.workflows.graph import Chain, Graph, Step
from manager.workflows.topology import (
    LIFECYCLE,
    MONITORING,
    RELATIONSHIP,
    VALIDATION,
    Instance,
    RelationshipRef,
    Topology,
    is_mapped,
    operation_queue,
    refuse_agent_install,
)

# (operation, message before, message after); None: no message on that side.
INSTALL_STEPS = (
    (
        f"{VALIDATION}.create",
        "Validating node instance before creation",
        "Node instance validated before creation",
    ),
    (f"{LIFECYCLE}.precreate", "Precreating node instance", "Node instance precreated"),
)


@dataclass
class RetryPolicy:
    task_retries: int
    task_retry_interval: float


class Builder:
    """Adds operations of one deployment's instances to a graph."""

    def __init__(self, topology: Topology, graph: Graph, retries: RetryPolicy) -> None:
        self.topology = topology
        self.graph = graph
        self.retries = retries

    # single steps -------------------------------------------------------------------------
    def operation(
        self,
        instance: Instance,
        name: str,
        definition: dict[str, Any],
        *,
        relationship: tuple[RelationshipRef, str] | None = None,
        kwargs: dict[str, Any] | None = None,
        allow_kwargs_override: bool | None = None,
        ignore_failure: bool = False,
    ) -> Step:
        max_retries = definition.get("max_retries")
        interval = definition.get("retry_interval")
        parameters: dict[str, Any] = {
            "node_id": instance.node.id,
            "task": definition.get("operation"),
            "plugin": definition.get("plugin"),
        }
        run_on = instance
        if relationship is not None:
            rel, side = relationship
            parameters["relationship"] = {
                "side": side,
                "index": rel.index,
                "source_id": instance.id,
                "target_id": rel.target_id,
            }
            if side == "target":
                run_on = self.topology.instances.get(rel.target_id, instance)
        if kwargs:
            parameters["kwargs"] = kwargs
        if allow_kwargs_override is not None:
            parameters["allow_kwargs_override"] = allow_kwargs_override
        if ignore_failure:
            parameters["ignore_failure"] = True
        return self.graph.operation(
            name,
            run_on.id,
            parameters,
            max_retries=self.retries.task_retries if max_retries is None else int(max_retries),
            retry_interval=float(
                self.retries.task_retry_interval if interval is None else interval
            ),
            timeout=definition.get("timeout") or None,
            queue=operation_queue(self.topology, run_on, name, definition),
        )

    def mapped(self, instance: Instance, name: str) -> dict[str, Any] | None:
        definition = instance.node.operations.get(name)
        return definition if is_mapped(definition) else None

    def _event(self, chain: Chain, instance: Instance, message: str) -> None:
        chain.inline(instance.id, {"message": message})

    def _state(
        self, chain: Chain, instance: Instance, state: str, message: str | None = None
    ) -> None:
        action: dict[str, Any] = {"state": state}
        if message:
            action["message"] = message
        chain.inline(instance.id, action)

    def _framed(
        self,
        chain: Chain,
        instance: Instance,
        name: str,
        before: str | None,
        after: str | None,
        **op: Any,
    ) -> None:
        definition = self.mapped(instance, name)
        if definition is None:
            if before:
                self._event(chain, instance, f"{before}: nothing to do")
            return
        if before:
            self._event(chain, instance, before)
        chain.then(self.operation(instance, name, definition, **op))
        if after:
            self._event(chain, instance, after)

    def _relationship_groups(
        self,
        chain: Chain,
        instance: Instance,
        operation: str,
        reverse: bool = False,
        targets: set[str] | None = None,
        **op: Any,
    ) -> bool:
        """One parallel group per target node; False when nothing is mapped."""
        name = f"{RELATIONSHIP}.{operation}"
        groups: dict[str, list[Step]] = {}
        for rel in instance.relationships:
            if targets is not None and rel.target_id not in targets:
                continue
            for side, operations in (
                ("source", rel.source_operations),
                ("target", rel.target_operations),
            ):
                definition = operations.get(name) or operations.get(operation)
                if is_mapped(definition):
                    step = self.operation(
                        instance, name, definition, relationship=(rel, side), **op
                    )
                    groups.setdefault(rel.target_node, []).append(step)
        ordered = list(groups.values())
        if reverse:
            ordered.reverse()
        for group in ordered:
            chain.parallel(group)
        return bool(ordered)

    def _relationships(
        self,
        chain: Chain,
        instance: Instance,
        operation: str,
        before: str,
        after: str,
        reverse: bool = False,
        **op: Any,
    ) -> None:
        if not self._has_relationship_ops(instance, operation):
            return
        self._event(chain, instance, before)
        self._relationship_groups(chain, instance, operation, reverse=reverse, **op)
        self._event(chain, instance, after)

    def _has_relationship_ops(self, instance: Instance, operation: str) -> bool:
        name = f"{RELATIONSHIP}.{operation}"
        return any(
            is_mapped(ops.get(name) or ops.get(operation))
            for rel in instance.relationships
            for ops in (rel.source_operations, rel.target_operations)
        )

    def has_install_work(self, instance: Instance) -> bool:
        names = (
            f"{VALIDATION}.create",
            f"{LIFECYCLE}.precreate",
            f"{LIFECYCLE}.create",
            f"{LIFECYCLE}.configure",
            f"{LIFECYCLE}.start",
            f"{LIFECYCLE}.poststart",
            f"{MONITORING}.start",
        )
        if any(self.mapped(instance, n) for n in names):
            return True
        return any(
            self._has_relationship_ops(instance, op)
            for op in ("preconfigure", "postconfigure", "establish")
        )

    # per-instance sequences ---------------------------------------------------------------
    def install_instance(self, instance: Instance, after: Iterable[Step], **op: Any) -> Step | None:
        refuse_agent_install(instance)
        chain = Chain(self.graph, list(after))
        if not self.has_install_work(instance):
            self._state(chain, instance, "started", "Node instance started (nothing to do)")
            return chain.end()
        self._state(chain, instance, "initializing")
        for name, before, after_text in INSTALL_STEPS:
            self._framed(chain, instance, name, before, after_text, **op)
        self._state(chain, instance, "creating")
        self._framed(chain, instance, f"{LIFECYCLE}.create", "Creating node instance", None, **op)
        self._state(chain, instance, "created", "Node instance created")
        self._relationships(
            chain,
            instance,
            "preconfigure",
            "Pre-configuring relationships",
            "Relationships pre-configured",
            **op,
        )
        self._state(chain, instance, "configuring")
        self._framed(
            chain, instance, f"{LIFECYCLE}.configure", "Configuring node instance", None, **op
        )
        self._state(chain, instance, "configured", "Node instance configured")
        self._relationships(
            chain,
            instance,
            "postconfigure",
            "Post-configuring relationships",
            "Relationships post-configured",
            **op,
        )
        self._state(chain, instance, "starting")
        self._framed(chain, instance, f"{LIFECYCLE}.start", "Starting node instance", None, **op)
        self._framed(
            chain,
            instance,
            f"{LIFECYCLE}.poststart",
            "Poststarting node instance",
            "Node instance poststarted",
            **op,
        )
        self._framed(chain, instance, f"{MONITORING}.start", None, None, **op)
        self._relationships(
            chain,
            instance,
            "establish",
            "Establishing relationships",
            "Relationships established",
            **op,
        )
        self._state(chain, instance, "started", "Node instance started")
        return chain.end()

    def uninstall_instance(
        self, instance: Instance, after: Iterable[Step], **op: Any
    ) -> Step | None:
        chain = Chain(self.graph, list(after))
        self._state(chain, instance, "stopping", "Stopping node instance")
        self._framed(
            chain,
            instance,
            f"{VALIDATION}.delete",
            "Validating node instance before deletion",
            "Node instance validated before deletion",
            **op,
        )
        self._framed(chain, instance, f"{MONITORING}.stop", None, None, **op)
        self._framed(
            chain,
            instance,
            f"{LIFECYCLE}.prestop",
            "Prestopping node instance",
            "Node instance prestopped",
            **op,
        )
        self._framed(chain, instance, f"{LIFECYCLE}.stop", None, None, **op)
        self._state(chain, instance, "stopped", "Stopped node instance")
        self._relationships(
            chain,
            instance,
            "unlink",
            "Unlinking relationships",
            "Relationships unlinked",
            reverse=True,
            **op,
        )
        self._state(chain, instance, "deleting")
        self._framed(chain, instance, f"{LIFECYCLE}.delete", "Deleting node instance", None, **op)
        self._framed(
            chain,
            instance,
            f"{LIFECYCLE}.postdelete",
            "Postdeleting node instance",
            "Node instance postdeleted",
            **op,
        )
        self._state(chain, instance, "deleted", "Deleted node instance")
        return chain.end()

    # whole sets of instances --------------------------------------------------------------
    def install(
        self, instances: list[Instance], after: Iterable[Step] = (), **op: Any
    ) -> list[Step]:
        """Install `instances`, each after the targets among them; returns the ends."""
        selected = {i.id for i in instances}
        ends: dict[str, Step | None] = {}
        start = list(after)
        for instance in self.topology.dependency_order(instances):
            deps = [ends[t] for t in instance.targets if t in selected and ends.get(t)]
            ends[instance.id] = self.install_instance(instance, [*start, *deps], **op)  # type: ignore[list-item]
        return [s for s in ends.values() if s is not None]

    def uninstall(
        self, instances: list[Instance], after: Iterable[Step] = (), **op: Any
    ) -> list[Step]:
        """Uninstall `instances`, each after the sources among them; returns the ends."""
        selected = {i.id for i in instances}
        sources: dict[str, list[str]] = {}
        for instance in instances:
            for target in instance.targets:
                if target in selected:
                    sources.setdefault(target, []).append(instance.id)
        ends: dict[str, Step | None] = {}
        start = list(after)
        for instance in reversed(self.topology.dependency_order(instances)):
            deps = [ends[s] for s in sources.get(instance.id, []) if ends.get(s)]
            ends[instance.id] = self.uninstall_instance(instance, [*start, *deps], **op)  # type: ignore[list-item]
        return [s for s in ends.values() if s is not None]

    def intact_relationships(
        self, changed: set[str], operation: str, after: Iterable[Step], **op: Any
    ) -> list[Step]:
        """establish/unlink of intact sources towards `changed` targets (install/uninstall
        with a node filter, reinstall, scale)."""
        ends = []
        by_source: dict[str, set[str]] = {}
        for source, rel in self.topology.sources_of(changed):
            by_source.setdefault(source.id, set()).add(rel.target_id)
        for source_id, targets in sorted(by_source.items()):
            source = self.topology.instances[source_id]
            if source.state in ("uninitialized", "deleted"):
                continue
            chain = Chain(self.graph, list(after))
            if self._relationship_groups(
                chain, source, operation, reverse=operation == "unlink", targets=targets, **op
            ):
                end = chain.end()
                if end is not None:
                    ends.append(end)
        return ends

    def relationship_operations(
        self, source: Instance, targets: set[str], operation: str, after: Iterable[Step], **op: Any
    ) -> Step | None:
        """establish or unlink of `source`'s relationships towards `targets` only (the
        relationships a deployment update added or removed); None when nothing is mapped."""
        chain = Chain(self.graph, list(after))
        if not self._relationship_groups(
            chain, source, operation, reverse=operation == "unlink", targets=targets, **op
        ):
            return None
        return chain.end()
