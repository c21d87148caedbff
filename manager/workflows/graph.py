"""An execution graph under construction: steps and the dependencies between them.

Workflow builders add steps here; `manager.orchestration.graph_store` stores them as rows of
the `operations` table. Only `operation` steps reach workers; the others (state changes,
events, joins) are applied by the API the moment they become ready.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

OPERATION, SET_STATE, EVENT, NOP = "operation", "set_state", "event", "nop"


@dataclass(eq=False)
class Step:
    id: str
    type: str
    name: str
    node_instance_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    after: set[Step] = field(default_factory=set)
    max_retries: int = 0
    retry_interval: float = 0.0
    timeout: float | None = None
    queue: str = "central"


class Graph:
    def __init__(self) -> None:
        self.steps: list[Step] = []

    def _add(self, step: Step, after: Iterable[Step | None]) -> Step:
        step.after.update(s for s in after if s is not None)
        self.steps.append(step)
        return step

    def operation(
        self, name: str, instance_id: str | None, parameters: dict[str, Any], **columns: Any
    ) -> Step:
        step = Step(str(uuid.uuid4()), OPERATION, name, instance_id, parameters, **columns)
        return self._add(step, ())

    def inline(self, instance_id: str | None, action: dict[str, Any]) -> Step:
        """A step the API applies itself: a state change (`{"state": ..., "message": ...}`)
        or a message (`{"message": ...}`) of one instance."""
        kind = SET_STATE if "state" in action else EVENT
        name = action["state"] if kind == SET_STATE else "event"
        step = Step(str(uuid.uuid4()), kind, name, instance_id, {"actions": [action]})
        return self._add(step, ())

    def nop(self, name: str = "join") -> Step:
        return self._add(Step(str(uuid.uuid4()), NOP, name, None, {"actions": []}), ())

    def compact(self) -> None:
        """Merge runs of inline steps (state changes, messages, joins) into one step each.

        A step that waits on exactly one inline step, which nothing else waits on, can be
        applied together with it: same order, fewer rows and fewer rounds per result.
        """
        dependents = self._dependents()
        merged: set[Step] = set()
        for step in self.steps:  # creation order is a topological order
            if step.type == OPERATION or len(step.after) != 1:
                continue
            (into,) = step.after
            if into.type == OPERATION or len(dependents.get(into, ())) != 1:
                continue
            if None not in (step.node_instance_id, into.node_instance_id) and (
                step.node_instance_id != into.node_instance_id
            ):
                continue
            into.parameters["actions"].extend(step.parameters["actions"])
            into.node_instance_id = into.node_instance_id or step.node_instance_id
            if any("state" in a for a in into.parameters["actions"]):
                into.type = SET_STATE
            elif into.parameters["actions"]:
                into.type = EVENT
            for later in dependents.get(step, []):
                later.after.discard(step)
                later.after.add(into)
            dependents[into] = dependents.pop(step, [])
            merged.add(step)
        self.steps = [s for s in self.steps if s not in merged]
        self._fold_into_operations()

    def _fold_into_operations(self) -> None:
        """An inline step that only follows one operation of its own instance, which nothing
        else follows, becomes that operation's `then`: applied with its success, saving a
        round of the graph per operation (the usual `created`/`configuring` after `create`).
        """
        dependents = self._dependents()
        folded: set[Step] = set()
        for step in self.steps:
            if step.type == OPERATION or len(step.after) != 1:
                continue
            (operation,) = step.after
            if (
                operation.type != OPERATION
                or operation.node_instance_id != step.node_instance_id
                or len(dependents.get(operation, ())) != 1
            ):
                continue
            operation.parameters.setdefault("then", []).extend(step.parameters["actions"])
            for later in dependents.get(step, []):
                later.after.discard(step)
                later.after.add(operation)
            dependents[operation] = dependents.pop(step, [])
            folded.add(step)
        self.steps = [s for s in self.steps if s not in folded]

    def _dependents(self) -> dict[Step, list[Step]]:
        found: dict[Step, list[Step]] = {}
        for step in self.steps:
            for dep in step.after:
                found.setdefault(dep, []).append(step)
        return found

    @property
    def operation_count(self) -> int:
        return sum(1 for step in self.steps if step.type == OPERATION)


class Chain:
    """A sequence of steps and parallel groups: each part waits for all of the previous one.

    `tails` is what the next part will wait for; a wide group followed by another wide group
    gets a join step between them instead of every-to-every edges.
    """

    def __init__(self, graph: Graph, after: Sequence[Step] = ()) -> None:
        self.graph = graph
        self.tails: list[Step] = list(after)
        self.first: list[Step] = []
        # The chain's last step when it is an inline step that nothing outside the chain
        # knows of yet: the next inline action of its instance can join it.
        self._open: Step | None = None

    def then(self, step: Step) -> Step:
        step.after.update(self.tails)
        if not self.first:
            self.first = [step]
        self.tails = [step]
        self._open = None
        return step

    def inline(self, instance_id: str, action: dict[str, Any]) -> None:
        """A state change or message of `instance_id` next in the chain.

        It joins the chain's last step when that is an inline step of the same instance
        that only this chain follows: what `Graph.compact` would merge, done here so that
        the many steps it would merge are never made."""
        step = self._open
        if step is not None and step.node_instance_id == instance_id:
            step.parameters["actions"].append(action)
            if "state" in action:
                step.type = SET_STATE
            return
        self._open = self.then(self.graph.inline(instance_id, action))

    def parallel(self, steps: Sequence[Step]) -> None:
        if not steps:
            return
        if len(self.tails) > 1 and len(steps) > 1:
            self.then(self.graph.nop())
        for step in steps:
            step.after.update(self.tails)
        if not self.first:
            self.first = list(steps)
        self.tails = list(steps)
        self._open = None

    def end(self) -> Step | None:
        """One step standing for the end of the chain (a join when it ends wide)."""
        self._open = None  # (the end is known outside the chain from now on)
        if len(self.tails) == 1:
            return self.tails[0]
        if not self.tails:
            return None
        return self.then(self.graph.nop())
