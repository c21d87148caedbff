"""Ending an execution once nothing of it is queued or running: terminated, failed (a failed
scale-out first rolls back what it added) or cancelled, and what a success changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from manager.db import Deployment, Execution
from manager.db import event_store as events
from manager.orchestration import executions as states
from manager.orchestration import scaling
from manager.orchestration.operation_states import ACTIVE, FAILED, OPERATIONS
from manager.orchestration.outbox import Outbox
from manager.orchestration.topologies import load_topology
from manager.workflows.builtin import rollback
from manager.workflows.graph import Graph
from manager.workflows.lifecycle import Builder, RetryPolicy

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
    if execution.status != states.STARTED:
        states.transition(session, execution, states.CANCELLED)
        return True
    c = OPERATIONS.c
    failure = (
        session.connection()
        .execute(
            select(c.parameters, c.error, c.name, c.node_instance_id)
            .where(c.execution_id == execution.id, c.state == FAILED)
            .order_by(c.ended_at)
            .limit(1)
        )
        .first()
    )
    if failure is not None and not failure.parameters.get("ignore_failure"):
        if _rollback_scale(session, execution, outbox):
            return False
        states.transition(session, execution, states.FAILED, error=_error_text(failure))
    else:
        states.transition(session, execution, states.TERMINATED)
        _after_success(session, execution)
    return True


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


def _rollback_scale(session: Session, execution: Execution, outbox: Outbox) -> bool:
    """A failed scale-out uninstalls what it added first (True: that is now running)."""
    # (Here, not at the top: graph_store imports this module to end executions.)
    from manager.orchestration.graph_store import store

    modification = execution.parameters.get(scaling.KEY)
    if not modification or not modification.get("added") or not modification.get("rollback"):
        return False
    deployment = session.get(Deployment, execution.deployment_pk)
    assert deployment is not None
    if modification.get("rolled_back"):
        scaling.undo(session, deployment, modification)
        return False
    execution.parameters = {
        **execution.parameters,
        scaling.KEY: {**modification, "rolled_back": True},
    }
    events.emit(
        session,
        execution,
        [
            {
                "type": "cloudify_event",
                "event_type": "workflow_event",
                "message": "Scale failed: rolling back the instances it added",
            }
        ],
    )
    graph = Graph()
    retries = RetryPolicy(task_retries=0, task_retry_interval=0)
    rollback(Builder(load_topology(session, deployment), graph, retries), execution.parameters)
    store(session, execution, graph, outbox, start=False)
    if not _active(session, execution):  # nothing to run: finish the rollback now
        scaling.undo(session, deployment, modification)
        return False
    return True


def _after_success(session: Session, execution: Execution) -> None:
    modification = execution.parameters.get(scaling.KEY)
    if modification and not execution.is_dry_run:
        deployment = session.get(Deployment, execution.deployment_pk)
        assert deployment is not None
        scaling.finish(session, deployment, modification)
    status = {"install": "active", "uninstall": "inactive"}.get(execution.workflow_id)
    if status and execution.deployment_pk is not None and not execution.is_dry_run:
        session.execute(
            update(Deployment)
            .where(Deployment.pk == execution.deployment_pk)
            .values(installation_status=status)
        )
