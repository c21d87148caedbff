"""Ending an execution once nothing of it is queued or running: terminated, failed or
cancelled. What a success or a failure changes besides (a deployment's installation status,
a scale-out's rollback) is its workflow's business (`manager.workflows.base.Workflow`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from manager.db import Deployment, Execution
from manager.errors import CodedError
from manager.orchestration import executions as states
from manager.orchestration.operation_states import ACTIVE, FAILED, OPERATIONS
from manager.orchestration.outbox import Outbox
from manager.orchestration.topologies import load_topology
from manager.workflows.base import Workflow
from manager.workflows.graph import Graph
from manager.workflows.lifecycle import Builder, RetryPolicy
from manager.workflows.registry import system_workflow, workflow_for
from manager.workflows.topology import AgentRequired

_ENDING = (states.STARTED, states.CANCELLING, states.FORCE_CANCELLING, states.KILL_CANCELLING)


def _active(session: Session, execution: Execution) -> int:
    return int(
        session.connection().scalar(
            select(func.count())
            .select_from(OPERATIONS)
            .where(OPERATIONS.c.execution_id == execution.id, OPERATIONS.c.state.in_(ACTIVE))
        )
        or 0
    )


def check_completion(session: Session, execution: Execution, outbox: Outbox) -> bool:
    """End the execution once nothing of it is queued or running. What it queues instead
    (a scale-out's rollback) goes into `outbox`, to be published after the commit."""
    if execution.status not in _ENDING:
        return False
    session.flush()  # (the count reads the table)
    if _active(session, execution):
        return False
    deployment = (
        session.get(Deployment, execution.deployment_pk)
        if execution.deployment_pk is not None
        else None
    )
    workflow = _workflow_of(execution, deployment)
    if execution.status != states.STARTED:
        states.transition(session, execution, states.CANCELLED)
        if workflow is not None and deployment is not None:
            workflow.on_cancelled(session, execution, deployment)
        return True
    failure = _first_failure(session, execution)
    if failure is not None:
        if workflow is not None and deployment is not None:
            target = deployment

            def more(build: Callable[[Builder], None]) -> bool:
                return _run_more(session, execution, target, build, outbox)

            if workflow.on_failure(session, execution, deployment, more):
                return False
        states.transition(session, execution, states.FAILED, error=_error_text(failure))
    else:
        states.transition(session, execution, states.TERMINATED)
        if workflow is not None and deployment is not None:
            workflow.on_success(session, execution, deployment)
    return True


def _workflow_of(execution: Execution, deployment: Deployment | None) -> Workflow | None:
    if deployment is None:
        return None
    definition = (deployment.workflows or {}).get(execution.workflow_id) or system_workflow(
        execution.workflow_id
    )
    if definition is None:
        return None
    try:
        return workflow_for(execution.workflow_id, definition)
    except CodedError:
        return None


def _first_failure(session: Session, execution: Execution) -> Any:
    """The earliest failed operation whose failure fails the execution (not one that
    ignores failures: those of a custom workflow's body are the body's to handle)."""
    c = OPERATIONS.c
    rows = session.connection().execute(
        select(c.parameters, c.error, c.name, c.node_instance_id)
        .where(c.execution_id == execution.id, c.state == FAILED)
        .order_by(c.ended_at)
    )
    for row in rows:
        if not row.parameters.get("ignore_failure"):
            return row
    return None


def _error_text(failure: Any) -> str:
    """The execution's error: which node instance (for a relationship operation, which pair),
    which operation and which exception, then the plugin task, e.g.
    `Task failed: web_1: cloudify.interfaces.lifecycle.configure: KeyError: 'missing_key'
    (script_runner.tasks.run)`."""
    error = failure.error or {}
    where = failure.node_instance_id or "(no node instance)"
    relationship = failure.parameters.get("relationship")
    if relationship:
        where = f"{relationship.get('source_id')} -> {relationship.get('target_id')}"
    message = error.get("message") or "failed"
    exception = f"{error['type']}: {message}" if error.get("type") else message
    task = failure.parameters.get("task")
    return f"Task failed: {where}: {failure.name}: {exception}" + (f" ({task})" if task else "")


def _run_more(
    session: Session,
    execution: Execution,
    deployment: Deployment,
    build: Callable[[Builder], None],
    outbox: Outbox,
) -> bool:
    """Add a clean-up graph (no retries) to the ending execution; True if it now runs."""
    # (Here, not at the top: graph_store imports this module to end executions.)
    from manager.orchestration.graph_store import store

    graph = Graph()
    retries = RetryPolicy(task_retries=0, task_retry_interval=0)
    try:
        build(Builder(load_topology(session, deployment), graph, retries))
    except AgentRequired:
        # The clean-up would run on a host whose agent Quarterdeck cannot install: it is
        # left out, and the execution fails with its own error.
        return False
    store(session, execution, graph, outbox, start=False)
    return bool(_active(session, execution))
