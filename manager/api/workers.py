"""The worker protocol: claim the attempts of a message, heartbeat them, send logs, report
a batch of results (and take the next operations with the answer).

Workers authenticate with the worker token (`Authorization: Bearer <token>`), never with a
user's credentials, and their wire version (`wire.WIRE_HEADER`): a worker of another
version is refused (400, naming both) before anything is read. These routes are the only
way operation results enter the database. The messages' shapes are in `wire.operations`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hmac
import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from manager.api.deps import SessionDep, SettingsDep
from manager.api.middleware import log_access, new_request_id, with_request_id
from manager.db import Execution, Operation
from manager.db.engine import Database
from manager.errors import CodedError, NotFound, QuarterdeckError, Unauthorized
from manager.logs import request_id
from manager.orchestration import claims, results
from manager.orchestration.operation_states import RUNNING
from manager.orchestration.outbox import Outbox, Publisher
from manager.orchestration.results import ReportedResult, WorkerReport
from manager.schemas.workers import (
    ClaimAnswerRead,
    HeartbeatAnswerRead,
    PluginStateRead,
    ResultsAnswerRead,
    SecretValueRead,
    WorkflowAnswerRead,
)
from manager.services import blueprints, operation_context, plugins, secrets, workflow_bodies
from manager.settings import Settings
from manager.unit_of_work import UnitOfWork
from wire import WIRE_HEADER, WIRE_MISMATCH, WIRE_VERSION, json_codec, mismatch_message
from wire.operations import (
    ClaimAnswer,
    HeartbeatAnswer,
    OperationContext,
    ResultsAnswer,
)
from wire.workflows import WorkflowAnswer, WorkflowRequest

log = logging.getLogger(__name__)

router = APIRouter(prefix="/worker/operations", tags=["workers"], include_in_schema=False)


def require_worker(request: Request, settings: SettingsDep) -> None:
    _check_worker(request.headers, settings)


def _check_worker(headers: Headers, settings: Settings) -> None:
    """Refuse a request without the worker token or of another wire version."""
    header = headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    expected = _worker_token(settings.worker_token, settings.secret_key)
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
        raise Unauthorized("A worker token is required")
    version = headers.get(WIRE_HEADER)
    if version != str(WIRE_VERSION):
        raise CodedError(mismatch_message(version), WIRE_MISMATCH, 400)


@functools.lru_cache(maxsize=4)
def _worker_token(worker_token: str, secret_key: str) -> bytes:
    """The worker token the settings resolve to (derived once, not on every request)."""
    settings = Settings.model_construct(worker_token=worker_token, secret_key=secret_key)
    return settings.resolved_worker_token.encode()


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
MOST_HANDED = 64


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


@router.post("/claim", response_model=ClaimAnswerRead)
def claim_batch(
    body: BatchClaim, request: Request, session: SessionDep, settings: SettingsDep, _: Worker
) -> ClaimAnswer:
    """Claim the attempts of a message (a batch, of one or more): the contexts of those
    claimed, in order, and why the others were not (they are to be dropped). Usually
    answered by the lean path (`answer`); this route answers what that path leaves."""
    return claim(UnitOfWork(session, _publisher(request)), settings, body)


@router.post("/results", response_model=ResultsAnswerRead)
def report(
    body: Report, request: Request, session: SessionDep, settings: SettingsDep, _: Worker
) -> ResultsAnswer:
    """Apply a worker's batch in one transaction; the answer says what became of each
    operation and hands over up to `want` operations of the results' queues, claimed for
    the worker (see `claims.next_for`). Usually answered by the lean path (`answer`)."""
    return apply_report(UnitOfWork(session, _publisher(request)), settings, body)


def claim(work: UnitOfWork, settings: Settings, body: BatchClaim) -> ClaimAnswer:
    """What `POST /claim` does, committed."""
    session = work.session
    claimed, refused = claims.claim_many(session, body.items, body.worker, settings.lease_seconds)
    contexts = _contexts(session, settings, claimed, work.outbox, refused)
    work.commit()
    return {"operations": contexts, "refused": refused}


def apply_report(work: UnitOfWork, settings: Settings, body: Report) -> ResultsAnswer:
    """What `POST /results` does, committed."""
    session = work.session
    batch = WorkerReport(results=body.results, started=body.started, released=body.release)
    answers, handed = results.report_batch(
        session,
        batch,
        work.outbox,
        worker=body.worker,
        want=min(body.want, MOST_HANDED),
        lease=settings.lease_seconds,
    )
    contexts = _contexts(session, settings, handed, work.outbox, answers)
    work.commit()
    return {"answers": answers, "next": contexts}


# The lean path: the two routes every operation goes through, answered before FastAPI's
# middleware stack, routing, dependency solving and response encoding (which cost more
# than the work itself, see the README's figures). Each request is handled exactly as its
# route handles it: the same worker checks, body limit, models, functions and unit of
# work. Whatever the lean path does not answer (a bad token, version or body, a body
# without a declared length, an error while handling it) goes on to the app, with the body
# it read given again, and the route answers it as it always does; a failed attempt here
# rolled back, so the route starts afresh.
_LEAN: dict[str, tuple[type[BaseModel], Callable[[UnitOfWork, Settings, Any], Any]]] = {
    "/api/v3.1/worker/operations/claim": (BatchClaim, claim),
    "/api/v3.1/worker/operations/results": (Report, apply_report),
}


async def answer(app: Starlette, scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer a worker's claim or report (True), or leave it to the app (False), in which
    case `receive` must be replaced by what `scope["quarterdeck.replay"]` holds, if set."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    lean = _LEAN.get(scope["path"])
    if lean is None:
        return False
    settings: Settings = app.state.settings
    headers = Headers(scope=scope)
    try:
        _check_worker(headers, settings)
        length = int(headers["content-length"])
    except (QuarterdeckError, KeyError, ValueError):
        return False
    if length > settings.max_upload_bytes:
        return False  # (BodyLimit answers 413)
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return True  # the client went away: nobody to answer
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    scope["quarterdeck.replay"] = body
    model, handle = lean
    try:
        parsed = model.model_validate_json(body)
    except ValueError:
        return False
    rid = new_request_id(scope)
    token = request_id.set(rid)
    started = time.perf_counter()
    try:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        try:
            answered = await loop.run_in_executor(
                getattr(app.state, "worker_threads", None),
                context.run,
                _handle,
                app,
                handle,
                parsed,
            )
        except Exception:
            log.debug("the lean path leaves %s to its route", scope["path"], exc_info=True)
            return False
        # Committed from here on: a failure is answered here, never handed to the route
        # (which would apply the request a second time).
        status = 500
        try:
            try:
                encoded = json_codec.dumps_bytes(answered, _plain)
            except (TypeError, ValueError):
                log.exception("the answer to %s cannot be encoded", scope["path"])
                encoded = json_codec.dumps_bytes(
                    {
                        "message": "The answer could not be encoded",
                        "error_code": "internal_server_error",
                        "server_traceback": None,
                    }
                )
                status = 500
            else:
                status = 200
            response_headers = [
                (b"content-length", str(len(encoded)).encode()),
                (b"content-type", b"application/json"),
            ]
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": with_request_id(response_headers, rid),
                }
            )
            await send({"type": "http.response.body", "body": encoded})
        finally:
            log_access(scope, status, started)
        return True
    finally:
        request_id.reset(token)


def replayed(scope: Scope, receive: Receive) -> Receive:
    """`receive` for the app after `answer` read the body and left the request to it."""
    body: bytes | None = scope.pop("quarterdeck.replay", None)
    if body is None:
        return receive

    async def replay() -> Message:
        nonlocal body
        if body is None:
            return await receive()
        message: Message = {"type": "http.request", "body": body, "more_body": False}
        body = None
        return message

    return replay


def _handle(
    app: Starlette, handle: Callable[[UnitOfWork, Settings, Any], Any], parsed: BaseModel
) -> Any:
    """Run one lean request's function in its own unit of work (committed): its answer."""
    database: Database = app.state.db
    with database.session(write=True) as session:
        return handle(UnitOfWork(session, app.state.broker), app.state.settings, parsed)


def _plain(value: Any) -> Any:
    """JSON for what `json` does not know (as FastAPI's encoder gives it)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


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


@router.post("/{operation_id}/heartbeat", response_model=HeartbeatAnswerRead)
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


@router.get("/{operation_id}/secrets/{key}", response_model=SecretValueRead)
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


@router.post("/{operation_id}/plugin/state", response_model=PluginStateRead)
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


@router.post("/{operation_id}/workflow", response_model=WorkflowAnswerRead)
def workflow_call(
    operation_id: str,
    body: WorkflowCall,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: Worker,
) -> WorkflowAnswer:
    """What a custom workflow's body, running as `operation_id`, asks of its execution."""
    work = UnitOfWork(session, _publisher(request))
    call = cast(WorkflowRequest, body.model_dump(exclude_none=True))
    answer = workflow_bodies.handle(session, settings, operation_id, call, work.outbox)
    work.commit()
    return answer
