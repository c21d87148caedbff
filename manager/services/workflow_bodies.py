"""The requests of a custom workflow's body, forwarded by its worker: add operations, read
their states, set node instance states, send events (see `manager.orchestration.
workflow_tasks`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from manager.errors import BadParameters
from manager.orchestration import workflow_tasks
from manager.orchestration.outbox import Outbox
from manager.services.executions import retry_policy
from manager.settings import Settings
from wire.workflows import WorkflowAnswer, WorkflowRequest


def handle(
    session: Session, settings: Settings, body_id: str, request: WorkflowRequest, outbox: Outbox
) -> WorkflowAnswer:
    body, execution = workflow_tasks.locked_body(session, body_id, request["attempt"])
    action = request["action"]
    answer: WorkflowAnswer = {"running": workflow_tasks.running(execution), "tasks": {}}
    if action == "submit":
        if not answer["running"]:
            return answer  # (a cancelled execution starts nothing more)
        retries = retry_policy(execution.parameters, settings)
        answer["tasks"] = workflow_tasks.submit(
            session, execution, body, request.get("tasks") or [], retries, outbox
        )
    elif action == "states":
        answer["tasks"] = workflow_tasks.task_states(session, body, request.get("keys") or [])
    elif action == "set_state":
        instance_id, state = request.get("node_instance_id"), request.get("state")
        if not instance_id or not state:
            raise BadParameters("set_state needs `node_instance_id` and `state`")
        workflow_tasks.set_state(session, execution, instance_id, state)
    elif action == "event":
        workflow_tasks.send_event(
            session, execution, str(request.get("message") or ""), request.get("node_instance_id")
        )
    else:
        raise BadParameters(
            f"Unknown workflow action `{action}`: expected submit, states, set_state or event"
        )
    return answer
