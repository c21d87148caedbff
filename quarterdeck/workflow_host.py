"""Running a custom workflow's body on a worker: the operation the API queues for it.

The API runs `run` like any operation (in the workflow plugin's venv, or the worker's
interpreter for a script workflow), with the workflow's mapping, parameters, and the
deployment's nodes and instances as inputs. `run` sets up the workflow `ctx` and calls the
mapped function with `ctx` and the parameters, or executes the workflow script.
"""

from __future__ import annotations

from typing import Any

from quarterdeck.context import OperationContext
from quarterdeck.dispatch import accepts_ctx, load_function, operation
from quarterdeck.exceptions import NonRecoverableError
from quarterdeck.workflow import ExecutionCancelled, WorkflowContext, bound

SCRIPT_WORKFLOW = "script_runner.tasks.execute_workflow"
# Execution settings, not workflow parameters: the function does not get them.
_SETTINGS = frozenset({"task_retries", "task_retry_interval"})


class WorkflowFailed(NonRecoverableError):
    """The body raised: the workflow failed (it is not run again)."""


@operation(resumable=True)
def run(
    ctx: OperationContext,
    mapping: str,
    workflow_id: str,
    parameters: dict[str, Any],
    nodes: list[dict[str, Any]],
    instances: list[dict[str, Any]],
) -> None:
    given = {k: v for k, v in parameters.items() if k not in _SETTINGS and not k.startswith("_")}
    workflow = WorkflowContext(ctx, ctx._backend, workflow_id, dict(given), nodes, instances)
    with bound(workflow):
        try:
            if mapping == SCRIPT_WORKFLOW:
                _run_script(workflow, given)
            else:
                function = load_function(mapping)
                if accepts_ctx(function):
                    given["ctx"] = workflow
                function(**given)
        except ExecutionCancelled:
            raise
        except NonRecoverableError as exc:
            raise WorkflowFailed(str(exc)) from exc
        except Exception as exc:
            raise WorkflowFailed(f"{type(exc).__name__}: {exc}") from exc


def _run_script(workflow: WorkflowContext, parameters: dict[str, Any]) -> None:
    """A Python workflow script from the blueprint, with `ctx` and `parameters` as globals
    (it may also import them from `cloudify.workflows`)."""
    path = parameters.get("script_path")
    if not path:
        raise WorkflowFailed("A script workflow needs the parameter `script_path`")
    source = workflow.get_resource(str(path)).decode("utf-8")
    code = compile(source, str(path), "exec")
    exec(code, {"__name__": "__main__", "ctx": workflow, "parameters": dict(parameters)})
