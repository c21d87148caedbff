"""The messages of a custom workflow's body to the API (`/worker/operations/{body}/workflow`).

A body runs on a worker as an operation (`quarterdeck.workflow_host`); these are the
requests its worker forwards for it. A new route: the messages of `wire.operations` are
unchanged, so WIRE_VERSION is too.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# The task a body's operation runs: the SDK's workflow host. Workers run it in a thread of
# their own process rather than in the process's place (see workers.executor).
BODY_TASK = "quarterdeck.workflow_host.run"


class TaskRequest(TypedDict):
    """An operation the body wants run on a node instance."""

    # The order in which the body created the task ("1", "2", ...): the same on every run.
    key: str
    node_instance_id: str
    operation: str
    kwargs: NotRequired[dict[str, Any] | None]
    allow_kwargs_override: NotRequired[bool | None]


class TaskState(TypedDict):
    # An operation state (pending, queued, running, succeeded, failed, cancelled).
    state: str
    error: str | None


class WorkflowRequest(TypedDict):
    attempt: int
    action: Literal["submit", "states", "set_state", "event"]
    tasks: NotRequired[list[TaskRequest]]
    keys: NotRequired[list[str]]
    node_instance_id: NotRequired[str | None]
    state: NotRequired[str]
    message: NotRequired[str]


class WorkflowAnswer(TypedDict):
    # False once the execution is being cancelled: the body should stop.
    running: bool
    tasks: dict[str, TaskState]
