"""The workflow context a custom workflow's body sees (`from cloudify.workflows import ctx`):
the deployment's nodes and instances, tasks that run operations through the API, and the
task graph that orders them.

A body runs as an operation on a worker (`quarterdeck.workflow_host`). Each operation it
asks for is added to its execution by the API under a key: the order in which the body
created the task. A body run again after its worker died creates the same tasks in the same
order, so the API answers the ones already done with their recorded state instead of
running them again. Bodies should therefore create their tasks in an order that depends only
on their parameters and the deployment, as a plain loop over `ctx.nodes` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from quarterdeck.binding import Binding, Proxy
from quarterdeck.context import Backend, OperationContext
from quarterdeck.exceptions import NonRecoverableError

# How long a waiting body sleeps between two looks at its tasks' states (growing to the
# longest while nothing changes).
POLL_FIRST, POLL_LONGEST = 0.2, 1.0
DONE = ("succeeded", "failed", "cancelled")


class ExecutionCancelled(Exception):
    """The execution is being cancelled: the body stops."""


class WorkflowTaskFailed(NonRecoverableError):
    """An operation the body waited for failed (after its retries)."""


class _Api:
    """The body's requests, through its worker, to its execution."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def request(self, action: str, **payload: Any) -> dict[str, Any]:
        answer = dict(self._backend.call("workflow", {"action": action, **payload}) or {})
        if not answer.get("running", True):
            raise ExecutionCancelled("The execution was cancelled")
        return answer


class Task:
    """A unit of work of a workflow: run it with `apply_async()` (outside graph mode
    `execute_operation`, `set_state` and `send_event` already did), wait with `get()`."""

    name = "task"

    def __init__(self, workflow: WorkflowContext) -> None:
        self.workflow = workflow
        self.state = "new"
        self.error: str | None = None

    @property
    def done(self) -> bool:
        return self.state in DONE

    def apply_async(self) -> Task:
        if self.state == "new":
            self.start()
        return self

    def start(self) -> None:
        raise NotImplementedError

    def get(self) -> Any:
        self.apply_async()
        self.workflow.wait([self])
        if self.state != "succeeded":
            raise WorkflowTaskFailed(f"Task failed '{self.name}' -> {self.error or self.state}")
        return None

    def is_nop(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.state}>"


class OperationTask(Task):
    """An operation of a node instance, run by the API like any operation of a graph."""

    def __init__(
        self,
        workflow: WorkflowContext,
        instance: WorkflowNodeInstance,
        operation: str,
        kwargs: dict[str, Any] | None,
        allow_kwargs_override: bool | None,
    ) -> None:
        super().__init__(workflow)
        self.key = workflow.next_key()
        self.instance = instance
        self.operation = operation
        self.kwargs = kwargs
        self.allow_kwargs_override = allow_kwargs_override
        self.name = f"{operation} on {instance.id}"

    def start(self) -> None:
        self.workflow.submit([self])

    def request(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "key": self.key,
            "node_instance_id": self.instance.id,
            "operation": self.operation,
        }
        if self.kwargs:
            found["kwargs"] = self.kwargs
        if self.allow_kwargs_override is not None:
            found["allow_kwargs_override"] = self.allow_kwargs_override
        return found


class LocalTask(Task):
    """Work of the body itself (a state change, an event, nothing): done when started."""

    def __init__(
        self, workflow: WorkflowContext, name: str, action: Callable[[], None] | None
    ) -> None:
        super().__init__(workflow)
        self.name = name
        self._action = action

    def start(self) -> None:
        if self._action is not None:
            self._action()
        self.state = "succeeded"

    def is_nop(self) -> bool:
        return self._action is None


class TaskSequence:
    """`graph.sequence()`: each task added waits for the one added before it."""

    def __init__(self, graph: TaskGraph) -> None:
        self.graph = graph
        self.last: Task | None = None

    def add(self, *tasks: Task | Iterable[Task]) -> None:
        for item in tasks:
            for task in [item] if isinstance(item, Task) else list(item):
                self.graph.add_task(task)
                if self.last is not None:
                    self.graph.add_dependency(task, self.last)
                self.last = task


class TaskGraph:
    """`ctx.graph_mode()`: tasks and which waits for which, run by `execute()`."""

    def __init__(self, workflow: WorkflowContext) -> None:
        self.workflow = workflow
        self.tasks: list[Task] = []
        self.dependencies: dict[Task, set[Task]] = {}

    def add_task(self, task: Task) -> Task:
        if task not in self.dependencies:
            self.tasks.append(task)
            self.dependencies[task] = set()
        return task

    def add_dependency(self, source: Task, target: Task) -> None:
        """`source` starts only after `target` succeeded."""
        self.add_task(source)
        self.add_task(target)
        self.dependencies[source].add(target)

    def sequence(self) -> TaskSequence:
        return TaskSequence(self)

    def subgraph(self, name: str) -> TaskGraph:
        return self  # (tasks of a subgraph are tasks of the graph here)

    def remove_task(self, task: Task) -> None:
        self.tasks = [t for t in self.tasks if t is not task]
        self.dependencies.pop(task, None)
        for waits in self.dependencies.values():
            waits.discard(task)

    def execute(self) -> None:
        """Run every task once all it depends on succeeded; raise when one fails (after
        the tasks already running ended) or when the execution is cancelled."""
        failed: Task | None = None
        while True:
            ready = [
                task
                for task in self.tasks
                if task.state == "new"
                and failed is None
                and all(dep.state == "succeeded" for dep in self.dependencies[task])
            ]
            local = [t for t in ready if not isinstance(t, OperationTask)]
            for task in local:
                task.start()
            operations = [t for t in ready if isinstance(t, OperationTask)]
            if operations:
                self.workflow.submit(operations)
            if local:
                continue  # (what they let start, starts now)
            running = [t for t in self.tasks if t.state not in ("new", *DONE)]
            failed = failed or next(
                (t for t in self.tasks if t.state in ("failed", "cancelled")), None
            )
            if not running:
                break
            self.workflow.wait(running, any_of=True)
        if failed is not None:
            raise WorkflowTaskFailed(
                f"Workflow failed: Task failed '{failed.name}' -> {failed.error or failed.state}"
            )
        self.tasks = []
        self.dependencies = {}


class WorkflowNode:
    """A node of the deployment (`ctx.nodes`, `ctx.get_node`)."""

    def __init__(self, workflow: WorkflowContext, data: dict[str, Any]) -> None:
        self.workflow = workflow
        self._data = data
        self.id: str = data["id"]
        self.name: str = data.get("name") or data["id"]
        self.type: str | None = data.get("type")
        self.type_hierarchy: list[str] = list(data.get("type_hierarchy") or [])
        self.properties: dict[str, Any] = dict(data.get("properties") or {})
        self.operations: dict[str, Any] = dict(data.get("operations") or {})
        self.host_id: str | None = data.get("host_id")
        self.number_of_instances = data.get("number_of_instances")
        self._instances: list[WorkflowNodeInstance] = []

    @property
    def instances(self) -> list[WorkflowNodeInstance]:
        return list(self._instances)

    def get_node_instance(self, instance_id: str) -> WorkflowNodeInstance | None:
        return next((i for i in self._instances if i.id == instance_id), None)

    @property
    def relationships(self) -> list[dict[str, Any]]:
        return list(self._data.get("relationships") or [])

    def has_operation(self, name: str) -> bool:
        return name in self.operations


class WorkflowRelationship:
    def __init__(self, instance: WorkflowNodeInstance, data: dict[str, Any]) -> None:
        self.node_instance = instance
        self.target_id: str = data.get("target_id", "")
        self.type: str | None = data.get("type")

    @property
    def target_node_instance(self) -> WorkflowNodeInstance:
        return self.node_instance.workflow.get_node_instance(self.target_id)


class WorkflowNodeInstance:
    """A node instance (`node.instances`, `ctx.node_instances`)."""

    def __init__(self, workflow: WorkflowContext, node: WorkflowNode, data: dict[str, Any]):
        self.workflow = workflow
        self.node = node
        self.id: str = data["id"]
        self.node_id: str = data["node_id"]
        self.host_id: str | None = data.get("host_id")
        self.state: str | None = data.get("state")
        self.runtime_properties: dict[str, Any] = dict(data.get("runtime_properties") or {})
        self._relationships = list(data.get("relationships") or [])

    @property
    def relationships(self) -> list[WorkflowRelationship]:
        return [WorkflowRelationship(self, r) for r in self._relationships]

    @property
    def target_ids(self) -> list[str]:
        return [r.get("target_id", "") for r in self._relationships]

    def execute_operation(
        self,
        operation: str,
        kwargs: dict[str, Any] | None = None,
        allow_kwargs_override: bool | None = None,
        send_task_events: bool = True,
    ) -> OperationTask:
        """A task running `operation` here; started at once unless in graph mode."""
        task = OperationTask(self.workflow, self, operation, kwargs, allow_kwargs_override)
        return self.workflow.started_unless_graph(task)

    def set_state(self, state: str) -> LocalTask:
        def apply() -> None:
            self.workflow.api.request("set_state", node_instance_id=self.id, state=state)
            self.state = state

        task = LocalTask(self.workflow, f"set state of {self.id} to {state}", apply)
        return self.workflow.started_unless_graph(task)

    def send_event(self, event: str, additional_context: Any = None) -> LocalTask:
        def apply() -> None:
            self.workflow.api.request("event", node_instance_id=self.id, message=event)

        task = LocalTask(self.workflow, f"event of {self.id}", apply)
        return self.workflow.started_unless_graph(task)


class _Named:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class WorkflowContext:
    """`ctx` of a workflow body."""

    local = False

    def __init__(
        self,
        operation: OperationContext,
        backend: Backend,
        workflow_id: str,
        parameters: dict[str, Any],
        nodes: list[dict[str, Any]],
        instances: list[dict[str, Any]],
    ) -> None:
        self._operation = operation
        self.api = _Api(backend)
        self.workflow_id = workflow_id
        self.parameters = parameters
        self._keys = 0
        self._graph: TaskGraph | None = None
        self._nodes = {n["id"]: WorkflowNode(self, n) for n in sorted(nodes, key=lambda n: n["id"])}
        self._instances: dict[str, WorkflowNodeInstance] = {}
        for data in sorted(instances, key=lambda i: i["id"]):
            node = self._nodes[data["node_id"]]
            instance = WorkflowNodeInstance(self, node, data)
            node._instances.append(instance)
            self._instances[instance.id] = instance
        self.deployment = _Named(
            id=getattr(operation.deployment, "id", None),
            tenant_name=operation.tenant_name,
            resource_tags=getattr(operation.deployment, "resource_tags", {}),
        )
        self.blueprint = _Named(id=getattr(operation.blueprint, "id", None))

    # identity -------------------------------------------------------------------------------
    @property
    def execution_id(self) -> str | None:
        return self._operation.execution_id

    @property
    def tenant_name(self) -> str | None:
        return self._operation.tenant_name

    @property
    def logger(self) -> Any:
        return self._operation.logger

    # the deployment -------------------------------------------------------------------------
    @property
    def nodes(self) -> list[WorkflowNode]:
        return list(self._nodes.values())

    @property
    def node_instances(self) -> list[WorkflowNodeInstance]:
        return list(self._instances.values())

    def get_node(self, node_id: str) -> WorkflowNode | None:
        return self._nodes.get(node_id)

    def get_node_instance(self, instance_id: str) -> WorkflowNodeInstance:
        found = self._instances.get(instance_id)
        if found is None:
            raise NonRecoverableError(f"No node instance `{instance_id}` in this deployment")
        return found

    # events and resources ---------------------------------------------------------------------
    def send_event(
        self,
        event: str,
        event_type: str = "workflow_stage",
        args: Any = None,
        additional_context: Any = None,
    ) -> LocalTask:
        def apply() -> None:
            self.api.request("event", message=event)

        return self.started_unless_graph(LocalTask(self, "event", apply))

    def get_resource(self, path: str) -> bytes:
        return self._operation.get_resource(path)

    def get_secret(self, key: str) -> Any:
        return self._operation.get_secret(key)

    # tasks ------------------------------------------------------------------------------------
    def graph_mode(self) -> TaskGraph:
        """From now on tasks are only created; `graph.execute()` runs them."""
        if self._graph is None:
            self._graph = TaskGraph(self)
        return self._graph

    @property
    def graph(self) -> TaskGraph:
        return self.graph_mode()

    def nop(self) -> LocalTask:
        return LocalTask(self, "nop", None)

    def next_key(self) -> str:
        self._keys += 1
        return str(self._keys)

    def started_unless_graph(self, task: Any) -> Any:
        if self._graph is None:
            task.apply_async()
        return task

    def submit(self, tasks: list[OperationTask]) -> None:
        answer = self.api.request("submit", tasks=[t.request() for t in tasks])
        self._update(tasks, answer)

    def wait(self, tasks: list[Task], any_of: bool = False) -> None:
        """Until every task (with `any_of`, one) of `tasks` is done."""
        delay = POLL_FIRST
        while True:
            waiting = [t for t in tasks if not t.done]
            if not waiting or (any_of and len(waiting) < len(tasks)):
                return
            operations = [t for t in waiting if isinstance(t, OperationTask)]
            if len(operations) < len(waiting):
                raise RuntimeError(f"tasks never started: {waiting}")
            answer = self.api.request("states", keys=[t.key for t in operations])
            if self._update(operations, answer):
                delay = POLL_FIRST
                continue
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_LONGEST)

    @staticmethod
    def _update(tasks: list[OperationTask], answer: dict[str, Any]) -> bool:
        """Take the states of `answer`; True if a task ended."""
        states = answer.get("tasks") or {}
        ended = False
        for task in tasks:
            found = states.get(task.key)
            if found is None:
                continue
            task.state = found.get("state") or task.state
            task.error = found.get("error")
            ended = ended or task.done
        return ended


_binding: Binding[WorkflowContext] = Binding(
    "quarterdeck_workflow", "the workflow ctx is only available while a workflow runs"
)
current = _binding.current
bound = _binding.bound


class _Parameters:
    """`cloudify.workflows.parameters`: the running workflow's parameters."""

    def __getattr__(self, name: str) -> Any:
        try:
            return current().parameters[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return current().parameters[name]

    def get(self, name: str, default: Any = None) -> Any:
        return current().parameters.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(current().parameters)


ctx: Any = Proxy(_binding)
parameters: Any = _Parameters()
