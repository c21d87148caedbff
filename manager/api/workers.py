"""The worker protocol: claim the attempts of a message, heartbeat them, send logs, report
a batch of results (and take the next operations with the answer).

Workers authenticate with the worker token (`Authorization: Bearer <token>`), never with a
user's credentials, and their wire version (`wire.WIRE_HEADER`): a worker of another
version is refused (400, naming both) before anything is read. These routes are the only
way operation results enter the database. The messages' shapes are in `wire.operations`.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.api.deps import SessionDep, SettingsDep
from manager.db import Execution, Operation
from manager.errors import CodedError, NotFound, Unauthorized
from manager.orchestration import claims, results
from manager.orchestration.operation_states import RUNNING
from manager.orchestration.outbox import Outbox, Publisher
from manager.orchestration.results import ReportedResult, WorkerReport
from manager.services import blueprints, operation_context, plugins, secrets, workflow_bodies
from manager.settings import Settings
from wire import WIRE_HEADER, WIRE_MISMATCH, WIRE_VERSION, mismatch_message
from wire.operations import (
    ClaimAnswer,
    HeartbeatAnswer,
    OperationContext,
    ResultsAnswer,
)
from wire.workflows import WorkflowAnswer, WorkflowRequest

router = APIRouter(prefix="/worker/operations", tags=["workers"], include_in_schema=False)
# The answers are typed by `wire.operations` for mypy; `response_model=None` keeps FastAPI
# from validating them again on the claim/report path.


def require_worker(request: Request, settings: SettingsDep) -> None:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    expected = settings.resolved_worker_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("A worker token is required")
    version = request.headers.get(WIRE_HEADER)
    if version != str(WIRE_VERSION):
        raise CodedError(mismatch_message(version), WIRE_MISMATCH, 400)


Worker = Annotated[None, Depends(require_worker)]


class Attempt(BaseModel):
    model_config = ConfigDict(extra="ignore")
    attempt: int


class Logs(Attempt):
    items: list[dict[str, Any]]


class PluginState(BaseModel):
    """A worker's report on building the venv of an operation's uploaded plugin."""

    model_config = ConfigDict(extra="ignore")
    state: Literal["installing", "installed", "error"]
    worker: str
    error: str | None = None


def _publisher(request: Request) -> Publisher:
    publisher: Publisher = request.app.state.broker
    return publisher


# The most operations one answer hands a worker.
MOST_HANDED = 16


class BatchClaim(BaseModel):
    model_config = ConfigDict(extra="ignore")
    items: list[tuple[str, int]]
    worker: str = ""


class Report(BaseModel):
    """A worker's batch: results, starts to announce, claimed attempts it gives back."""

    model_config = ConfigDict(extra="ignore")
    worker: str = ""
    results: list[ReportedResult] = []
    started: list[tuple[str, int]] = []
    release: list[tuple[str, int]] = []
    # How many operations of its results' queues the worker takes next.
    want: int = 0


@router.post("/claim", response_model=None)
def claim_batch(
    body: BatchClaim, request: Request, session: SessionDep, settings: SettingsDep, _: Worker
) -> ClaimAnswer:
    """Claim the attempts of a message (a batch, of one or more): the contexts of those
    claimed, in order, and why the others were not (they are to be dropped)."""
    outbox = Outbox()
    claimed, refused = claims.claim_many(session, body.items, body.worker, settings.lease_seconds)
    contexts = _contexts(session, settings, claimed, outbox, refused)
    session.commit()
    outbox.flush(_publisher(request))
    return {"operations": contexts, "refused": refused}


@router.post("/results", response_model=None)
def report(
    body: Report, request: Request, session: SessionDep, settings: SettingsDep, _: Worker
) -> ResultsAnswer:
    """Apply a worker's batch in one transaction; the answer says what became of each
    operation and hands over up to `want` operations of the results' queues, claimed for
    the worker (see `claims.next_for`)."""
    outbox = Outbox()
    batch = WorkerReport(results=body.results, started=body.started, released=body.release)
    answers, handed = results.report_batch(
        session,
        batch,
        outbox,
        worker=body.worker,
        want=min(body.want, MOST_HANDED),
        lease=settings.lease_seconds,
    )
    contexts = _contexts(session, settings, handed, outbox, answers)
    session.commit()
    outbox.flush(_publisher(request))
    return {"answers": answers, "next": contexts}


def _contexts(
    session: Session,
    settings: Settings,
    claimed: list[claims.Claimed],
    outbox: Outbox,
    refused: dict[str, str],
) -> list[OperationContext]:
    """The contexts of claimed operations; one that cannot be built fails for good (and
    why is entered in `refused`)."""
    contexts = []
    built = operation_context.build_many(session, settings, [(c.row, c.execution) for c in claimed])
    for (operation, _, announced), context in zip(claimed, built, strict=True):
        if isinstance(context, operation_context.ContextError):
            outcome = results.failure("nonrecoverable", "FunctionEvaluationError", str(context))
            results.report(session, operation.id, operation.attempt, outcome, outbox)
            refused[operation.id] = f"{context}: the operation failed"
            continue
        # (The start of one not announced is, with its result or its worker's `started`.)
        context["announced"] = announced
        contexts.append(context)
    return contexts


@router.post("/{operation_id}/heartbeat", response_model=None)
def heartbeat(
    operation_id: str, body: Attempt, session: SessionDep, settings: SettingsDep, _: Worker
) -> HeartbeatAnswer:
    cancel = claims.heartbeat(session, operation_id, body.attempt, settings.lease_seconds)
    session.commit()
    return {"cancel": cancel}


@router.post("/{operation_id}/logs", status_code=204)
def logs(operation_id: str, body: Logs, session: SessionDep, _: Worker) -> Response:
    results.record_logs(session, operation_id, body.attempt, body.items)
    session.commit()
    return Response(status_code=204)


def _operation(session: SessionDep, operation_id: str) -> Operation:
    operation = session.scalar(select(Operation).where(Operation.id == operation_id))
    if operation is None or operation.state != RUNNING:
        raise NotFound(f"Operation `{operation_id}` is not running")
    return operation


@router.get("/{operation_id}/secrets/{key}")
def secret(
    operation_id: str, key: str, session: SessionDep, settings: SettingsDep, _: Worker
) -> dict[str, Any]:
    """`ctx.get_secret` of a running operation: resolved for the execution's creator (403 for
    a hidden value they may not read, 404 for a secret they cannot see)."""
    operation = _operation(session, operation_id)
    execution = session.get(Execution, operation.execution_id)
    assert execution is not None
    reader = operation_context.creator_principal(execution)
    value = secrets.resolve(session, reader, settings.secret_key, key)
    if value is None:
        raise NotFound(f"Requested `Secret` with ID `{key}` was not found")
    return {"key": key, "value": value}


@router.get("/{operation_id}/resources/{path:path}")
def resource(
    operation_id: str, path: str, session: SessionDep, settings: SettingsDep, _: Worker
) -> Response:
    operation = _operation(session, operation_id)
    deployment = operation_context.deployment_of(session, operation)
    root = blueprints.blueprint_dir(settings, deployment.tenant.name, deployment.blueprint.id)
    root = root.resolve()
    candidate = (root / path).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        raise NotFound(f"Resource `{path}` was not found in blueprint `{deployment.blueprint.id}`")
    return Response(candidate.read_bytes(), media_type="application/octet-stream")


@router.get("/{operation_id}/plugin")
def plugin_archive(
    operation_id: str, session: SessionDep, settings: SettingsDep, _: Worker
) -> FileResponse:
    """The uploaded wagon (or wheel, or sdist) the running operation's plugin installs from."""
    operation = _operation(session, operation_id)
    deployment = operation_context.deployment_of(session, operation)
    plugin = operation_context.operation_plugin(session, operation, deployment)
    path = plugins.archive_path(settings, plugin)
    return FileResponse(path, media_type="application/octet-stream", filename=plugin.archive_name)


@router.post("/{operation_id}/plugin/state")
def plugin_state(
    operation_id: str, body: PluginState, session: SessionDep, _: Worker
) -> dict[str, Any]:
    """Record on the plugin what installing it on this worker gave (an error keeps the text)."""
    operation = _operation(session, operation_id)
    deployment = operation_context.deployment_of(session, operation)
    plugin = operation_context.operation_plugin(session, operation, deployment)
    recorded = plugins.report_state(
        session,
        operation_context.tenant_view(deployment),
        plugin.id,
        state=body.state,
        manager=body.worker or "worker",
        error=body.error,
    )
    session.commit()
    return {"id": recorded.id, "installation_state": recorded.installation_state}


class WorkflowCall(BaseModel):
    """A custom workflow body's request (`wire.workflows.WorkflowRequest`)."""

    model_config = ConfigDict(extra="ignore")
    attempt: int
    action: Literal["submit", "states", "set_state", "event"]
    tasks: list[dict[str, Any]] = []
    keys: list[str] = []
    node_instance_id: str | None = None
    state: str | None = None
    message: str | None = None


@router.post("/{operation_id}/workflow", response_model=None)
def workflow_call(
    operation_id: str,
    body: WorkflowCall,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: Worker,
) -> WorkflowAnswer:
    """What a custom workflow's body, running as `operation_id`, asks of its execution."""
    outbox = Outbox()
    call = cast(WorkflowRequest, body.model_dump(exclude_none=True))
    answer = workflow_bodies.handle(session, settings, operation_id, call, outbox)
    session.commit()
    outbox.flush(_publisher(request))
    return answer
