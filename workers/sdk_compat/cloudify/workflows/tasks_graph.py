"""`cloudify.workflows.tasks_graph`: the task graph of a workflow."""

from quarterdeck.workflow import TaskGraph as TaskDependencyGraph

__all__ = ["TaskDependencyGraph"]
