"""Execution records: creation, lookup and the fields lists may filter and sort by."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ScalarSelect, Select, bindparam, func, select
from sqlalchemy.orm import Session, joinedload

from manager.db import (
    Blueprint,
    Deployment,
    Execution,
    ExecutionGroup,
    Operation,
    Tenant,
    User,
)
from manager.db.engine import Database
from manager.db.groups import execution_group_members
from manager.errors import BadParameters, CodedError, Conflict, IllegalAction, NotFound
from manager.orchestration import executions as states
from manager.orchestration.completion import check_completion
from manager.orchestration.control import cancel, resume
from manager.orchestration.graph_store import store
from manager.orchestration.locks import lock_execution
from manager.orchestration.operation_states import ACTIVE
from manager.orchestration.outbox import Outbox
from manager.orchestration.topologies import load_topology
from manager.schemas.executions import ExecutionStart
from manager.services.identity import Principal
from manager.services.tenancy import check_own_tenant, visible, visible_to
from manager.settings import Settings
from manager.workflows.graph import Graph
from manager.workflows.lifecycle import Builder, RetryPolicy
from manager.workflows.registry import workflow_for
from manager.workflows.topology import AgentRequired

# Maintenance workflows that lists hide unless `_include_system_workflows=True`.
SYSTEM_WORKFLOWS = frozenset({"create_snapshot", "restore_snapshot", "upload_plugin"})


def new_execution(
    session: Session,
    principal: Principal,
    workflow_id: str,
    *,
    deployment: Deployment | None = None,
    blueprint_id: str | None = None,
    parameters: dict[str, Any] | None = None,
    **fields: Any,
) -> Execution:
    execution = Execution(
        id=str(uuid.uuid4()),
        tenant_pk=principal.tenant_pk,
        created_by_pk=principal.user_pk,
        workflow_id=workflow_id,
        deployment=deployment,
        blueprint_id=blueprint_id,
        parameters=parameters or {},
        is_system_workflow=workflow_id in SYSTEM_WORKFLOWS,
        status="pending",
        **fields,
    )
    session.add(execution)
    session.flush()
    return execution


# What an execution's reads need of its deployment and blueprint, and no more: their own
# eager relationships (latest and upload executions) would cost a query each per read.
READ_OPTIONS = (
    joinedload(Execution.deployment).lazyload(Deployment.latest_execution),
    joinedload(Execution.deployment)
    .joinedload(Deployment.blueprint)
    .lazyload(Blueprint.upload_execution),
)


def listed() -> Select[Any]:
    """Executions as lists read them (with what `execution_read` needs loaded)."""
    return select(Execution).options(*READ_OPTIONS)


def deployment_id_column() -> ScalarSelect[str]:
    """An execution's deployment id, as a column lists sort and filter by."""
    return select(Deployment.id).where(Deployment.pk == Execution.deployment_pk).scalar_subquery()


def get(
    session: Session, principal: Principal, execution_id: str, *, lock: bool = False
) -> Execution:
    stmt = visible(
        select(Execution).where(Execution.id == execution_id).options(*READ_OPTIONS),
        Execution,
        principal,
    )
    if lock:
        stmt = stmt.with_for_update(of=Execution)
    execution = session.scalar(stmt)
    if execution is None:
        raise NotFound.of("Execution", execution_id)
    return execution


@cache
def _light_statement(admin: bool) -> Select[Any]:
    """get_light's query for callers without a scope, built once (building it cost more
    than running it), with bound parameters `execution_id`, `tenant_pk` and `user_pk`."""
    executions, deployments = Execution.__table__, Deployment.__table__
    tenants, creator = Tenant.__table__, User.__table__.alias("creator")
    return (
        select(
            executions,
            deployments.c.id.label("deployment_ref"),
            deployments.c.display_name.label("deployment_display_name"),
            tenants.c.name.label("tenant_name"),
            creator.c.username.label("creator_name"),
        )
        .select_from(
            executions.outerjoin(deployments, deployments.c.pk == executions.c.deployment_pk)
            .join(tenants, tenants.c.pk == executions.c.tenant_pk)
            .outerjoin(creator, creator.c.pk == executions.c.created_by_pk)
        )
        .where(
            executions.c.id == bindparam("execution_id"),
            visible_to(executions.c, bindparam("tenant_pk"), bindparam("user_pk"), admin=admin),
        )
    )


def get_light(database: Database, principal: Principal, execution_id: str) -> Any:
    """An execution for reading only, in one plain query outside any transaction
    (Database.read_row): what dashboards poll.

    The result has the attributes `execution_read` uses (the execution's columns, and
    `deployment`, `tenant`, `creator` with the fields it shows), without building ORM objects.
    """
    stmt = _light_statement(principal.is_admin)
    row = database.read_row(
        stmt,
        {
            "execution_id": execution_id,
            "tenant_pk": principal.tenant_pk,
            "user_pk": principal.user_pk,
        },
    )
    if row is None:
        raise NotFound.of("Execution", execution_id)
    values = dict(row)
    deployment_id = values.pop("deployment_ref")
    display_name = values.pop("deployment_display_name")
    tenant_name = values.pop("tenant_name")
    creator_name = values.pop("creator_name")
    return SimpleNamespace(
        **values,
        deployment=(
            SimpleNamespace(id=deployment_id, display_name=display_name)
            if deployment_id is not None
            else None
        ),
        tenant=SimpleNamespace(name=tenant_name),
        creator=SimpleNamespace(username=creator_name) if creator_name is not None else None,
    )


# --- starting and controlling executions --------------------------------------------------

RETRY_SETTINGS = ("task_retries", "task_retry_interval")


def execution_token(secret_key: str, execution_id: str) -> str:
    """The token plugin code of one execution calls back with; derived, never stored raw."""
    digest = hmac.new(secret_key.encode(), f"execution:{execution_id}".encode(), "sha256")
    return digest.hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(
    session: Session,
    settings: Settings,
    principal: Principal,
    body: ExecutionStart,
    outbox: Outbox,
    *,
    hold: bool = False,
    end_now: bool = True,
) -> Execution:
    """Validate a workflow run, store its graph and queue its first operations.

    With `hold`, a valid run is stored `queued` instead, for the watchdog to start later (an
    execution group's members beyond its concurrency). With `end_now=False` a run with
    nothing to wait for (no operations) stays `started`: the caller answers, then ends it
    with `end_if_idle` in a second transaction."""
    from manager.dsl import DslError, prepare_workflow_parameters
    from manager.services import deployments

    deployment = deployments.get(session, principal, body.deployment_id)
    # A global deployment is run only from its own tenant, by everyone: the execution (and
    # the secrets its operations read as its creator) belongs to the tenant it starts in.
    # Cloudify also lets managers of other tenants (`execute_global_workflow`); not here.
    check_own_tenant(principal, deployment, "start an execution on", admin_anywhere=False)
    _check_environment(session, deployment)
    workflow = deployment.workflows.get(body.workflow_id)
    if workflow is None:
        raise CodedError(
            f"Workflow `{body.workflow_id}` does not exist in deployment `{deployment.id}`; "
            f"it has: {', '.join(sorted(deployment.workflows)) or 'none'}",
            "nonexistent_workflow_error",
        )
    raw = dict(body.parameters or {})
    overrides = {k: raw.pop(k) for k in RETRY_SETTINGS if k in raw}
    try:
        parameters = prepare_workflow_parameters(
            body.workflow_id,
            workflow,
            raw,
            allow_custom_parameters=body.allow_custom_parameters,
        )
    except DslError as exc:
        raise CodedError(exc.message, exc.error_code) from None
    # Refuse what cannot run before anything is stored.
    retry_policy(overrides, settings)
    workflow_for(body.workflow_id, workflow)

    # One execution per deployment at a time: the deployment row's lock orders the check.
    session.execute(select(Deployment.pk).where(Deployment.pk == deployment.pk).with_for_update())
    busy = session.scalar(
        select(Execution.id).where(
            Execution.deployment_pk == deployment.pk,
            Execution.status.in_(states.ACTIVE_STATES | {states.QUEUED}),
        )
    )
    execution = new_execution(
        session,
        principal,
        body.workflow_id,
        deployment=deployment,
        blueprint_id=deployment.blueprint.id,
        parameters={**parameters, **overrides},
        is_dry_run=body.dry_run,
        allow_custom_parameters=body.allow_custom_parameters,
    )
    execution.token_hash = token_hash(execution_token(settings.secret_key, execution.id))
    deployment.latest_execution_id = execution.id
    if hold or (busy is not None and not body.force):
        if not body.queue and not hold:
            raise CodedError(
                f"The deployment `{deployment.id}` already has a running execution "
                f"(`{busy}`); wait for it to end, or start with force or queue",
                "existing_running_execution_error",
            )
        states.transition(session, execution, states.QUEUED)
        return execution
    _launch(session, settings, execution, deployment, workflow, outbox, end_now=end_now)
    return execution


def end_if_idle(session: Session, execution_id: str, outbox: Outbox) -> bool:
    """End a started execution that has nothing queued or running (a workflow without
    operations, left started by `start(..., end_now=False)`); True if it ended. The
    watchdog's `finish_stuck` does the same later should this never run."""
    execution = lock_execution(session, execution_id)
    return check_completion(session, execution, outbox)


def _launch(
    session: Session,
    settings: Settings,
    execution: Execution,
    deployment: Deployment,
    workflow: dict[str, Any],
    outbox: Outbox,
    *,
    end_now: bool = True,
) -> None:
    """Build the workflow's graph from the execution's parameters and store it."""
    parameters = {k: v for k, v in execution.parameters.items() if k not in RETRY_SETTINGS}
    kind = workflow_for(execution.workflow_id, workflow)
    kept = kind.prepare(session, deployment, parameters)
    if kept:
        parameters.update(kept)
        execution.parameters = {**execution.parameters, **kept}
    graph = Graph()
    retries = retry_policy(execution.parameters, settings)
    topology = load_topology(session, deployment, mapped_only=True)
    kind.build(Builder(topology, graph, retries), parameters)
    store(session, execution, graph, outbox, end_now=end_now)


def launch(
    session: Session,
    settings: Settings,
    execution: Execution,
    deployment: Deployment,
    workflow: dict[str, Any],
    outbox: Outbox,
) -> None:
    """Start a system workflow's execution (created with `new_execution`) at once: a
    deployment update's `update`, whose workflow is not in the deployment's plan."""
    _launch(session, settings, execution, deployment, workflow, outbox)


def retry_policy(values: dict[str, Any], settings: Settings) -> RetryPolicy:
    """An execution's own `task_retries`/`task_retry_interval`, else the manager's."""
    return RetryPolicy(
        task_retries=_number(values, "task_retries", settings.task_retries, int),
        task_retry_interval=_number(
            values, "task_retry_interval", settings.task_retry_interval, float
        ),
    )


def start_queued(session: Session, settings: Settings, outbox: Outbox) -> int:
    """Start queued executions whose deployment is free (the watchdog calls this)."""
    started = 0
    queued = session.scalars(
        select(Execution).where(Execution.status == states.QUEUED).order_by(Execution.created_at)
    ).all()
    # Execution groups found running at their concurrency in this pass: starting others
    # only adds to their count, so they stay full until the pass ends.
    full_groups: set[int] = set()
    for execution in queued:
        if execution.deployment_pk is None:
            continue
        busy = session.scalar(
            select(Execution.id).where(
                Execution.deployment_pk == execution.deployment_pk,
                Execution.id != execution.id,
                Execution.status.in_(states.ACTIVE_STATES),
            )
        )
        if busy is not None or _group_is_full(session, execution, full_groups):
            continue
        deployment = execution.deployment
        assert deployment is not None
        states.transition(session, execution, states.PENDING)
        workflow = deployment.workflows[execution.workflow_id]
        try:
            with session.begin_nested():
                _launch(session, settings, execution, deployment, workflow, outbox)
        except AgentRequired as exc:
            # Refused when it was queued it would have been a 400; now it fails instead,
            # with nothing of its graph stored.
            session.refresh(execution)
            states.transition(session, execution, states.FAILED, error=exc.message)
        started += 1
    return started


def _group_is_full(session: Session, execution: Execution, full_groups: set[int]) -> bool:
    """Whether the execution belongs to an execution group that already runs as many
    executions as its concurrency allows (remembered in `full_groups`)."""
    members = execution_group_members
    group = session.execute(
        select(ExecutionGroup.pk, ExecutionGroup.concurrency)
        .join(members, members.c.group_pk == ExecutionGroup.pk)
        .where(members.c.execution_id == execution.id)
    ).first()
    if group is None:
        return False
    if group.pk in full_groups:
        return True
    running = session.scalar(
        select(func.count())
        .select_from(members)
        .join(Execution, Execution.id == members.c.execution_id)
        .where(members.c.group_pk == group.pk, Execution.status.in_(states.ACTIVE_STATES))
    )
    if (running or 0) >= group.concurrency:
        full_groups.add(group.pk)
        return True
    return False


def _number(values: dict[str, Any], key: str, default: Any, kind: type) -> Any:
    if key not in values:
        return default
    try:
        return kind(values[key])
    except (TypeError, ValueError):
        raise CodedError(
            f"Execution parameter `{key}` must be a number, got {values[key]!r}",
            "illegal_execution_parameters_error",
        ) from None


def _check_environment(session: Session, deployment: Deployment) -> None:
    create_env = session.get(Execution, deployment.create_execution_id)
    if create_env is None or create_env.status == states.TERMINATED:
        return
    if create_env.status == states.PENDING:
        raise CodedError(
            "Deployment environment creation is still pending, try again in a minute",
            "deployment_environment_creation_pending_error",
        )
    if create_env.status == states.FAILED:
        last = (create_env.error or "").strip().splitlines()[-1:] or [""]
        raise CodedError(
            f"Can't launch executions since environment creation for deployment "
            f"{deployment.id} has failed: {last[0]}",
            "deployment_creation_error",
        )
    raise CodedError(
        f"Deployment environment creation is in progress for deployment {deployment.id}",
        "deployment_environment_creation_in_progress_error",
    )


def control(
    session: Session,
    principal: Principal,
    execution_id: str,
    action: str,
    outbox: Outbox,
) -> Execution:
    """cancel, force-cancel, kill, resume, force-resume (POST /executions/{id})."""
    found = get(session, principal, execution_id)
    check_own_tenant(principal, found, action)
    execution = lock_execution(session, found.id)
    if action in ("cancel", "force-cancel", "kill"):
        allowed = {
            "cancel": (states.PENDING, states.STARTED, states.SCHEDULED, states.QUEUED),
            "force-cancel": (
                states.PENDING,
                states.STARTED,
                states.SCHEDULED,
                states.QUEUED,
                states.CANCELLING,
            ),
        }.get(action)
        if action == "kill" and execution.status in states.END_STATES:
            allowed = ()
        if allowed is not None and execution.status not in allowed:
            raise IllegalAction(
                f"Can't {action} execution {execution.id} because it's in status {execution.status}"
            )
        cancel(session, execution, action, outbox)
    elif action in ("resume", "force-resume"):
        resume(session, execution, outbox, force=action == "force-resume")
    else:
        raise BadParameters(
            f"Unknown action `{action}`: expected one of cancel, force-cancel, kill, resume, "
            "force-resume"
        )
    return execution


def set_status(
    session: Session, principal: Principal, execution_id: str, status: str, error: str
) -> Execution:
    found = get(session, principal, execution_id)
    check_own_tenant(principal, found, "change the status of")
    execution = lock_execution(session, found.id)
    if status not in states.TRANSITIONS:
        raise BadParameters(
            f"Unknown execution status `{status}`: expected one of "
            f"{', '.join(sorted(states.TRANSITIONS))}"
        )
    active = session.scalar(
        select(func.count())
        .select_from(Operation)
        .where(Operation.execution_id == execution.id, Operation.state.in_(ACTIVE))
    )
    if active:
        raise Conflict(
            f"Execution `{execution.id}` has {active} operations queued or running: its status "
            "follows them; cancel it instead"
        )
    states.transition(session, execution, status, error=error)
    return execution


def should_start(session: Session, principal: Principal, execution_id: str) -> bool:
    execution = get(session, principal, execution_id)
    if execution.deployment_pk is None:
        return True
    busy = session.scalar(
        select(Execution.id).where(
            Execution.deployment_pk == execution.deployment_pk,
            Execution.id != execution.id,
            Execution.status.in_(states.ACTIVE_STATES),
        )
    )
    return busy is None


def delete_ended(
    session: Session,
    principal: Principal,
    to_datetime: Any,
    keep_last: int | None,
    filters: dict[str, str],
) -> int:
    """Ended executions of the caller's tenant, filtered by deployment/workflow/status."""
    if (to_datetime is None) == (keep_last is None):
        raise BadParameters("Give exactly one of `to_datetime` and `keep_last`")
    stmt = visible(select(Execution), Execution, principal).where(
        Execution.status.in_(states.END_STATES)
    )
    known = {"workflow_id": Execution.workflow_id, "status": Execution.status}
    for key, value in filters.items():
        if key == "deployment_id":
            stmt = stmt.join(Deployment, Deployment.pk == Execution.deployment_pk).where(
                Deployment.id == value
            )
        elif key in known:
            stmt = stmt.where(known[key] == value)
        else:
            raise BadParameters(
                f"Unknown filter `{key}`: expected deployment_id, workflow_id or status"
            )
    stmt = stmt.order_by(Execution.created_at.desc())
    doomed = list(session.scalars(stmt))
    if keep_last is not None:
        doomed = doomed[keep_last:]
    else:
        doomed = [e for e in doomed if e.created_at <= to_datetime]
    referenced = set(
        session.scalars(
            select(Deployment.latest_execution_id).where(
                Deployment.latest_execution_id.in_([e.id for e in doomed])
            )
        )
    ) | set(
        session.scalars(
            select(Deployment.create_execution_id).where(
                Deployment.create_execution_id.in_([e.id for e in doomed])
            )
        )
    )
    doomed = [e for e in doomed if e.id not in referenced]
    for execution in doomed:
        session.delete(execution)
    session.flush()
    return len(doomed)
