"""Custom workflows: a blueprint's workflow mapped to a plugin function or to a script
(`script_runner.tasks.execute_workflow`).

Its graph is one step, the body: an operation row like any other, run on a worker by the
SDK's workflow host (`quarterdeck.workflow_host`) in the venv of the workflow's plugin.
The operations the body asks for are added to the same execution while it runs
(`manager.orchestration.workflow_tasks`), under ids derived from the body's id and the
order in which the body created them, so a body run again after its worker died finds the
operations it had already started or finished instead of starting them again.
"""

from __future__ import annotations

from typing import Any

from manager.workflows.base import Workflow
from manager.workflows.lifecycle import Builder
from wire.workflows import BODY_TASK

__all__ = ["BODY", "BODY_TASK", "CustomWorkflow", "is_body"]

# The operation name of a body step (the SDK function a worker runs it with is
# wire.workflows.BODY_TASK).
BODY = "workflow"


def is_body(parameters: dict[str, Any]) -> bool:
    return "workflow" in parameters


class CustomWorkflow(Workflow):
    def __init__(self, workflow_id: str, definition: dict[str, Any]) -> None:
        self.workflow_id = workflow_id
        self.definition = definition

    def build(self, builder: Builder, parameters: dict[str, Any]) -> None:
        mapping = str(self.definition.get("operation"))
        builder.graph.operation(
            BODY,
            None,
            {
                "task": mapping,
                "plugin": self.definition.get("plugin"),
                "node_id": None,
                "workflow": {"id": self.workflow_id, "mapping": mapping},
            },
            # A body that raises fails at once (the workflow host reports it so); these
            # retries are for a body whose worker died, which then runs again.
            max_retries=builder.retries.task_retries,
            retry_interval=builder.retries.task_retry_interval,
            timeout=None,
            queue="central",
        )
