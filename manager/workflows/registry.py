"""Which `Workflow` runs a deployment's workflow: a built-in one by its plan operation, else
the custom workflow whose body runs on a worker."""

from __future__ import annotations

from typing import Any

from manager.errors import CodedError
from manager.workflows.base import Workflow
from manager.workflows.builtin import BUILTIN, PREFIX, UPDATE
from manager.workflows.custom import CustomWorkflow


def workflow_for(workflow_id: str, definition: dict[str, Any]) -> Workflow:
    """The workflow of a deployment's workflow entry, or a 400 naming what cannot run."""
    operation = str(definition.get("operation") or "")
    found = BUILTIN.get(operation)
    if found is not None:
        return found
    if operation.startswith(PREFIX) or not operation:
        # (Cloudify's own workflow module: only what BUILTIN implements exists here.)
        raise CodedError(
            f"Workflow `{workflow_id}` is implemented by `{operation}` "
            f"(plugin `{definition.get('plugin')}`), which Quarterdeck cannot run: of "
            f"{PREFIX[:-1]} only {', '.join(sorted(k[len(PREFIX) :] for k in BUILTIN))} "
            "are supported",
            "nonexistent_workflow_error",
        )
    return CustomWorkflow(workflow_id, definition)


# Workflows the manager starts itself that are not in a deployment's plan, by workflow id.
SYSTEM: dict[str, dict[str, Any]] = {"update": {"operation": UPDATE}}


def system_workflow(workflow_id: str) -> dict[str, Any] | None:
    """The definition of a workflow the manager starts itself (a deployment update's
    `update`), or None."""
    return SYSTEM.get(workflow_id)
