"""The operation graph of an execution: storing it, advancing it, and every state change.

Operation states:
  pending   waiting for `waiting_on` dependencies; with `waiting_on == 0` it is ready but
            held (its execution is cancelling, cancelled or failed) until a resume.
  queued    published (or due to be, after `run_after`) for a worker to claim.
  running   claimed by a worker for attempt `attempt`, which holds a lease on it (its
            `started_at` is empty while a batch holds it unstarted, see `Claimed`).
  succeeded, failed, cancelled.

Workers take operations in batches: messages of up to BATCH_SIZE, claimed in one request
(`claim_many`), and reports of several results in one transaction (`report_batch`), whose
answer hands over the next operations (`next_for`).

Every change of an execution's graph takes the execution row's lock first, so the
applications of results of one execution happen one at a time and the "is anything still
running?" check that ends an execution can never miss a concurrent change. Operations made
ready are published only after the transaction commits (`Outbox`); a publish that is lost
is repaired by the watchdog, which re-publishes queued operations nobody claimed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import Table, case, func, insert, select, update
from sqlalchemy.orm import Session, lazyload

from manager.db import Deployment, Execution, NodeInstance, Operation
from manager.db.base import utcnow
from manager.errors import Conflict
from manager.orchestration import executions as states
from manager.services import events
from manager.workflows.graph import OPERATION, Graph

log = logging.getLogger(__name__)

PENDING, QUEUED, RUNNING = "pending", "queued", "running"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
RETRYABLE_KINDS = ("recoverable", "retry")
# The hot paths write through the table, not the ORM: same rows, a fraction of the work.
_OPERATIONS = cast(Table, Operation.__table__)


# Operations queued together on one queue travel in messages of up to this many: a worker
# claims and reports each message's operations in one request each.
BATCH_SIZE = 8


class Publisher(Protocol):
    def publish(self, operation_id: str, attempt: int, queue: str, countdown: float) -> None: ...

    def publish_batch(self, items: Sequence[tuple[str, int]], queue: str) -> None: ...

    def backlog(self, queue: str) -> int | None: ...


class Message(NamedTuple):
    operation_id: str
    attempt: int
    queue: str
    countdown: float = 0.0
    single: bool = False  # never batched with others


@dataclass
class Outbox:
    """Operations to publish once the transaction that queued them has committed."""

    items: list[Message] = field(default_factory=list)

    def add(
        self,
        operation_id: str,
        attempt: int,
        queue: str,
        countdown: float = 0.0,
        *,
        single: bool = False,
    ) -> None:
        self.items.append(Message(operation_id, attempt, queue, countdown, single))

    def flush(self, publisher: Publisher | None) -> int:
        """Publish: due operations of one queue in batches of up to BATCH_SIZE, the others
        one per message. Returns how many operations were sent."""
        sent = 0
        items, self.items = self.items, []
        if publisher is None:
            return 0
        batches: dict[str, list[Message]] = {}
        for item in items:
            if item.countdown > 0 or item.single:
                sent += self._send(publisher, [item])
            else:
                batches.setdefault(item.queue, []).append(item)
        for batch in batches.values():
            for start in range(0, len(batch), BATCH_SIZE):
                sent += self._send(publisher, batch[start : start + BATCH_SIZE])
        return sent

    @staticmethod
    def _send(publisher: Publisher, items: list[Message]) -> int:
        try:
            if len(items) == 1:
                item = items[0]
                publisher.publish(item.operation_id, item.attempt, item.queue, item.countdown)
            else:
                publisher.publish_batch(
                    [(i.operation_id, i.attempt) for i in items], items[0].queue
                )
        except Exception:
            # The operations stay queued; the watchdog publishes them again later.
            log.warning(
                "publishing operations %s failed", [i.operation_id for i in items], exc_info=True
            )
            return 0
        return len(items)


class Claimed(NamedTuple):
    """An operation claimed for a worker: its row, its execution, and whether its start was
    announced (else it is when its worker reports it, or says it started: `report_batch`)."""

    row: Any
    execution: Execution
    announced: bool


class StaleReport(Conflict):
    """A claim or report for an attempt that is not (or no longer) the current one."""

    error_code = "operation_stale_error"


# --- storing a graph ----------------------------------------------------------------------


def store(
    session: Session, execution: Execution, graph: Graph, outbox: Outbox, *, start: bool = True
) -> None:
    """Insert the graph's rows, start the execution and queue what is ready (`start=False`:
    add the graph to an execution already running)."""
    graph.compact()
    dependents: dict[str, list[str]] = {}
    for step in graph.steps:
        for dep in step.after:
            dependents.setdefault(dep.id, []).append(step.id)
    now = utcnow()
    rows = [
        {
            "id": step.id,
            "execution_id": execution.id,
            "type": step.type,
            "name": step.name,
            "node_instance_id": step.node_instance_id,
            "state": PENDING,
            "attempt": 0,
            "max_retries": step.max_retries,
            "retry_interval": step.retry_interval,
            "timeout": step.timeout,
            "queue": step.queue,
            "waiting_on": len(step.after),
            "dependents": dependents.get(step.id, []),
            "parameters": step.parameters,
            "created_at": now,
        }
        for step in graph.steps
    ]
    if rows:
        session.execute(insert(Operation), rows)
    execution.total_operations += graph.operation_count
    if start:
        states.transition(session, execution, states.STARTED)
    ready = [step.id for step in graph.steps if not step.after]
    advance(session, execution, ready, outbox)
    if start:
        check_completion(session, execution, outbox)


# --- advancing ----------------------------------------------------------------------------


def advance(session: Session, execution: Execution, ready: Sequence[str], outbox: Outbox) -> None:
    """Run what became ready: inline steps now, operations by queueing them.

    Waves of inline steps are applied in bulk: one UPDATE per state change kind, one insert
    of events, one decrement of their dependents' counters.
    """
    held = execution.status != states.STARTED
    while ready:
        rows = (
            session.connection()
            .execute(
                select(
                    Operation.id,
                    Operation.type,
                    Operation.name,
                    Operation.node_instance_id,
                    Operation.parameters,
                    Operation.dependents,
                    Operation.queue,
                    Operation.attempt,
                ).where(Operation.id.in_(ready), Operation.state == PENDING)
            )
            .all()
        )
        dry = execution.is_dry_run
        inline = [r for r in rows if r.type != OPERATION or dry]
        operations = [r for r in rows if r.type == OPERATION and not dry]
        if operations and not held:
            _queue(session, execution, operations, outbox)
        ready = []
        if not inline:
            break
        _apply_inline(session, execution, inline)
        ready = _finish(session, [r.id for r in inline], [d for r in inline for d in r.dependents])


def _queue(session: Session, execution: Execution, rows: Sequence[Any], outbox: Outbox) -> None:
    now = utcnow()
    ids = [r.id for r in rows]
    session.connection().execute(
        update(_OPERATIONS)
        .where(_OPERATIONS.c.id.in_(ids))
        .values(state=QUEUED, attempt=_OPERATIONS.c.attempt + 1, queued_at=now, run_after=None)
    )
    sent = []
    for row in rows:
        outbox.add(row.id, row.attempt + 1, row.queue)
        sent.append(
            _task_event(row, "sending_task", f"Sending task '{row.parameters.get('task')}'")
        )
    events.emit(session, execution, sent)


def _apply_inline(session: Session, execution: Execution, rows: Sequence[Any]) -> None:
    messages: list[dict[str, Any]] = []
    steps: list[tuple[str | None, list[dict[str, Any]]]] = []
    for row in rows:
        if row.type == OPERATION:  # a dry run: record what would have run
            name = row.parameters.get("task")
            messages.append(_task_event(row, "sending_task", f"Sending task '{name}'"))
            messages.append(
                _task_event(row, "task_succeeded", f"Task succeeded '{name}' (dry run)")
            )
            execution.finished_operations += 1
            actions = row.parameters.get("then") or []
        else:
            actions = row.parameters.get("actions") or []
        steps.append((row.node_instance_id, actions))
    events.emit(session, execution, messages)
    _apply_actions(session, execution, steps)


def _apply_actions(
    session: Session, execution: Execution, steps: Sequence[tuple[str | None, list[Any]]]
) -> None:
    """The state changes and messages of inline steps (or of an operation's `then`), in
    order: one UPDATE per resulting state, one batch of events."""
    final: dict[str, str] = {}  # (the last state an instance reaches, in step order)
    messages: list[dict[str, Any]] = []
    for instance_id, actions in steps:
        for action in actions:
            if action.get("state") is not None and instance_id is not None:
                final[instance_id] = action["state"]
            if action.get("message"):
                messages.append(
                    {
                        "type": "cloudify_event",
                        "event_type": "workflow_node_event",
                        "message": action["message"],
                        "node_instance_id": instance_id,
                        "node_name": _node_of(instance_id),
                    }
                )
    by_state: dict[str, list[str]] = {}
    for instance_id, state in final.items():
        by_state.setdefault(state, []).append(instance_id)
    if by_state and not execution.is_dry_run:
        deployment_pk = execution.deployment_pk
        instances = cast(Table, NodeInstance.__table__)
        for state, instance_ids in by_state.items():
            session.connection().execute(
                update(instances)
                .where(instances.c.deployment_pk == deployment_pk, instances.c.id.in_(instance_ids))
                .values(state=state, version=instances.c.version + 1)
            )
    events.emit(session, execution, messages)


def _node_of(instance_id: str | None) -> str | None:
    """`web_x3k9az` -> `web`: instance ids are the node id and a 6-character suffix."""
    if not instance_id or "_" not in instance_id:
        return None
    return instance_id.rsplit("_", 1)[0]


def _finish(session: Session, done: Sequence[str], dependents: Sequence[str]) -> list[str]:
    """Mark `done` succeeded and count them off their dependents; returns the newly ready."""
    session.connection().execute(
        update(_OPERATIONS)
        .where(_OPERATIONS.c.id.in_(done))
        .values(state=SUCCEEDED, ended_at=utcnow())
    )
    return _decrement(session, dependents)


def _decrement(session: Session, dependents: Sequence[str]) -> list[str]:
    if not dependents:
        return []
    counts: dict[str, int] = {}
    for dep in dependents:
        counts[dep] = counts.get(dep, 0) + 1
    ready: list[str] = []
    by_count: dict[int, list[str]] = {}
    for dep, n in counts.items():
        by_count.setdefault(n, []).append(dep)
    for n, ids in by_count.items():
        result = session.connection().execute(
            update(_OPERATIONS)
            .where(_OPERATIONS.c.id.in_(ids))
            .values(waiting_on=_OPERATIONS.c.waiting_on - n)
            .returning(_OPERATIONS.c.id, _OPERATIONS.c.waiting_on)
        )
        ready.extend(row.id for row in result if row.waiting_on <= 0)
    return ready


def check_completion(session: Session, execution: Execution, outbox: Outbox | None = None) -> bool:
    """End the execution once nothing of it is queued or running."""
    if execution.status not in (
        states.STARTED,
        states.CANCELLING,
        states.FORCE_CANCELLING,
        states.KILL_CANCELLING,
    ):
        return False
    session.flush()  # (the count reads the table)
    active = session.connection().scalar(
        select(func.count())
        .select_from(_OPERATIONS)
        .where(_OPERATIONS.c.execution_id == execution.id, _OPERATIONS.c.state.in_(ACTIVE))
    )
    if active:
        return False
    if execution.status != states.STARTED:
        states.transition(session, execution, states.CANCELLED)
        return True
    failure = session.execute(
        select(Operation.parameters, Operation.error)
        .where(Operation.execution_id == execution.id, Operation.state == FAILED)
        .order_by(Operation.ended_at)
        .limit(1)
    ).first()
    if failure is not None and not failure.parameters.get("ignore_failure"):
        if _rollback_scale(session, execution, outbox):
            return False
        states.transition(session, execution, states.FAILED, error=_error_text(failure))
    else:
        states.transition(session, execution, states.TERMINATED)
        _after_success(session, execution)
    return True


def _error_text(failure: Any) -> str:
    error = failure.error or {}
    return f"Task failed: {failure.parameters.get('task')}: {error.get('message') or 'failed'}"


def _rollback_scale(session: Session, execution: Execution, outbox: Outbox | None) -> bool:
    """A failed scale-out uninstalls what it added first (True: that is now running)."""
    from manager.services import scaling

    modification = execution.parameters.get(scaling.KEY)
    if not modification or not modification.get("added") or not modification.get("rollback"):
        return False
    deployment = session.get(Deployment, execution.deployment_pk)
    assert deployment is not None
    if modification.get("rolled_back"):
        scaling.undo(session, deployment, modification)
        return False
    from manager.services.executions import load_topology
    from manager.workflows.builtin import rollback
    from manager.workflows.lifecycle import Builder, RetryPolicy

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
    store(session, execution, graph, outbox or Outbox(), start=False)
    active = session.scalar(
        select(func.count())
        .select_from(Operation)
        .where(Operation.execution_id == execution.id, Operation.state.in_(ACTIVE))
    )
    if not active:  # nothing to run: finish the rollback now
        scaling.undo(session, deployment, modification)
        return False
    return True


def _after_success(session: Session, execution: Execution) -> None:
    from manager.services import scaling

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


# --- the worker protocol ------------------------------------------------------------------


def lock_execution(session: Session, execution_id: Any) -> Execution:
    """The execution row, locked until commit; relationships load only when touched."""
    execution = session.scalars(
        select(Execution)
        .where(Execution.id == execution_id)
        .options(lazyload("*"))
        .with_for_update(of=Execution)
    ).first()
    if execution is None:
        raise StaleReport(f"Execution `{execution_id}` does not exist")
    return execution


def _lock_owner(session: Session, operation_id: str) -> Execution:
    owner = select(Operation.execution_id).where(Operation.id == operation_id).scalar_subquery()
    try:
        return lock_execution(session, owner)
    except StaleReport:
        raise StaleReport(f"Operation `{operation_id}` does not exist") from None


def _locked_row(session: Session, operation_id: str) -> tuple[Any, Execution]:
    """The operation's row, locked, after its execution's row (the order every change of an
    execution's graph takes its locks in)."""
    execution = _lock_owner(session, operation_id)
    session.flush()  # (this transaction's changes to it, if any, are read back)
    row = (
        session.connection()
        .execute(select(_OPERATIONS).where(_OPERATIONS.c.id == operation_id).with_for_update())
        .one()
    )
    return row, execution


def claim(
    session: Session, operation_id: str, attempt: int, worker: str, lease_seconds: float
) -> tuple[Any, Execution]:
    """Give attempt `attempt` to `worker`, once; anything else is told to drop the message."""
    operation, execution = _locked_row(session, operation_id)
    problem = _unclaimable(operation, attempt, execution)
    if problem:
        raise StaleReport(problem)
    claimed = _mark_running(session, execution, [operation_id], worker, lease_seconds)
    assert claimed  # (queued, and locked above)
    return claimed[0], execution


def _unclaimable(operation: Any, attempt: int, execution: Execution) -> str | None:
    """Why `attempt` of `operation` (its locked row) cannot be claimed now, if it cannot."""
    if operation.attempt != attempt or operation.state != QUEUED:
        return (
            f"Operation `{operation.id}` attempt {attempt} is not waiting for a worker "
            f"(it is {operation.state}, attempt {operation.attempt}): drop the message"
        )
    if execution.status != states.STARTED:
        return f"Execution `{execution.id}` is {execution.status}: drop the message"
    if operation.run_after is not None and operation.run_after > utcnow() + timedelta(seconds=1):
        return f"Operation `{operation.id}` is not due before {operation.run_after}"
    return None


def claim_many(
    session: Session, items: Sequence[tuple[str, int]], worker: str, lease_seconds: float
) -> tuple[list[Claimed], dict[str, str]]:
    """Claim what can be claimed of several attempts (a batch message) for `worker`: the
    claimed rows with their executions, in the order given, and why the others were not.
    Only the first claimed operation's start is announced now (see `Claimed`)."""
    claimed: list[Claimed] = []
    refused: dict[str, str] = {}
    wanted: dict[str, int] = {}
    for operation_id, attempt in items:
        wanted.setdefault(operation_id, attempt)  # (the first, if one is listed twice)
    for execution, rows in _locked_groups(session, list(wanted), refused):
        ids = []
        for row in rows:
            problem = _unclaimable(row, wanted[row.id], execution)
            if problem:
                refused[row.id] = problem
            else:
                ids.append(row.id)
        rows = _mark_running(session, execution, ids, worker, lease_seconds, announce=1)
        claimed += [Claimed(row, execution, row.started_at is not None) for row in rows]
    order = {operation_id: index for index, (operation_id, _) in enumerate(items)}
    claimed.sort(key=lambda each: order[each.row.id])
    return claimed, refused


def _locked_groups(
    session: Session,
    operation_ids: Sequence[str],
    missing: dict[str, str],
    owners_given: dict[str, str] | None = None,
) -> list[tuple[Execution, list[Any]]]:
    """The rows of `operation_ids` with their executions, each execution's row locked before
    its operations' rows (executions in id order, so two batches never wait on each other);
    ids of no operation are entered in `missing`. `owners_given`: the executions of some
    of the operations, as the worker knows them (an operation not in the execution given
    counts as missing)."""
    given = owners_given or {}
    owners: dict[str, list[str]] = {}
    for operation_id in operation_ids:
        if operation_id in given:
            owners.setdefault(given[operation_id], []).append(operation_id)
    unknown = [i for i in operation_ids if i not in given]
    if unknown:
        for operation_id, execution_id in session.connection().execute(
            select(_OPERATIONS.c.id, _OPERATIONS.c.execution_id).where(
                _OPERATIONS.c.id.in_(unknown)
            )
        ):
            owners.setdefault(execution_id, []).append(operation_id)
    groups = []
    found: set[str] = set()
    for execution_id in sorted(owners):
        try:
            execution = lock_execution(session, execution_id)
        except StaleReport:
            continue
        session.flush()  # (this transaction's changes to its rows, if any, are read back)
        rows = {
            row.id: row
            for row in session.connection().execute(
                select(_OPERATIONS)
                .where(
                    _OPERATIONS.c.id.in_(owners[execution_id]),
                    _OPERATIONS.c.execution_id == execution_id,
                )
                .order_by(_OPERATIONS.c.id)
                .with_for_update()
            )
        }
        found |= rows.keys()
        groups.append((execution, [rows[i] for i in operation_ids if i in rows]))
    for operation_id in operation_ids:
        if operation_id not in found:
            missing[operation_id] = f"Operation `{operation_id}` does not exist"
    return groups


def _mark_running(
    session: Session,
    execution: Execution,
    operation_ids: Sequence[str],
    worker: str,
    lease: float,
    *,
    announce: int | None = None,
) -> list[Any]:
    """Queued operations now run for `worker`: their rows, with what the context needs, in
    the order given (those not queued are left out). Announces the start of those among the
    first `announce` ids given (all when None); the others' `started_at` stays empty until
    their worker announces them (`announce_start`)."""
    if not operation_ids:
        return []
    now = utcnow()
    c = _OPERATIONS.c
    first = operation_ids if announce is None else operation_ids[:announce]
    started = now if announce is None else case((c.id.in_(first), now), else_=None)
    rows = {
        row.id: row
        for row in session.connection().execute(
            update(_OPERATIONS)
            .where(c.id.in_(operation_ids), c.state == QUEUED)
            .values(
                state=RUNNING,
                worker=worker,
                started_at=started,
                lease_expires_at=now + timedelta(seconds=lease),
            )
            .returning(
                c.id,
                c.name,
                c.node_instance_id,
                c.parameters,
                c.attempt,
                c.queue,
                c.max_retries,
                c.timeout,
                c.started_at,
            )
        )
    }
    running = [rows[i] for i in operation_ids if i in rows]
    announced = [row for row in running if row.started_at is not None]
    events.emit(session, execution, [_started_event(row) for row in announced])
    return running


def announce_start(session: Session, execution: Execution, row: Any) -> bool:
    """Announce that a running operation claimed unannounced (`_mark_running`) started,
    once: False if it was announced already."""
    if row.started_at is not None:
        return False
    session.connection().execute(
        update(_OPERATIONS).where(_OPERATIONS.c.id == row.id).values(started_at=utcnow())
    )
    events.emit(session, execution, [_started_event(row)])
    return True


def _started_event(operation: Any) -> dict[str, Any]:
    text = f"Task started '{task_name(operation)}'{retry_suffix(operation)}"
    return _task_event(operation, "task_started", text)


def next_for(
    session: Session,
    execution: Execution,
    outbox: Outbox,
    queues: Collection[str],
    worker: str,
    lease: float,
    *,
    limit: int = 1,
    since: int = 0,
    published: bool = False,
    skip: Collection[str] = (),
) -> list[Claimed]:
    """Claim for `worker` up to `limit` operations this transaction queued on `queues` (from
    outbox item `since` on), taking them out of the outbox: the reporting worker, which
    consumes those queues, runs them next, saving a round trip through Redis and a claim.
    With `published`, make up the number with operations of the execution on those queues
    already published and still waiting for a worker (the oldest first; their messages
    are then refused, one claim for a batch of them). Never those in `skip`. Only the
    first one's start is announced."""
    if execution.status != states.STARTED or limit < 1:
        return []
    taken = [
        item.operation_id
        for item in outbox.items[since:]
        if item.queue in queues and item.countdown <= 0 and item.operation_id not in skip
    ][:limit]
    if published and len(taken) < limit:
        c = _OPERATIONS.c
        taken += session.connection().scalars(
            select(c.id)
            .where(
                c.execution_id == execution.id,
                c.state == QUEUED,
                c.queue.in_(list(queues)),
                c.run_after.is_(None),
                c.id.not_in([*taken, *skip]),
            )
            .order_by(c.queued_at, c.id)
            .limit(limit - len(taken))
        )
    rows = _mark_running(session, execution, taken, worker, lease, announce=1)
    claimed = {row.id for row in rows}
    outbox.items = [item for item in outbox.items if item.operation_id not in claimed]
    return [Claimed(row, execution, row.started_at is not None) for row in rows]


def heartbeat(session: Session, operation_id: str, attempt: int, lease_seconds: float) -> bool:
    """Extend the lease; True tells the worker to kill the operation."""
    operation = session.scalars(
        select(Operation).where(Operation.id == operation_id).with_for_update()
    ).first()
    if operation is None or operation.attempt != attempt or operation.state != RUNNING:
        return True
    status = session.scalar(select(Execution.status).where(Execution.id == operation.execution_id))
    if status in (states.FORCE_CANCELLING, states.KILL_CANCELLING):
        return True
    operation.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds)
    return False


def record_logs(
    session: Session, operation_id: str, attempt: int, items: list[dict[str, Any]]
) -> None:
    operation, execution = _locked_row(session, operation_id)
    events.emit(session, execution, [_worker_event(operation, item) for item in items])


def report(
    session: Session, operation_id: str, attempt: int, outcome: dict[str, Any], outbox: Outbox
) -> tuple[Any, Execution]:
    """Apply a worker's result for one attempt, exactly once (the operation is None when
    this was the same report again)."""
    row, execution = _locked_row(session, operation_id)
    if not _is_new(row, attempt, outcome):
        return None, execution  # the same report again
    _apply(session, execution, [(row, outcome)], outbox)
    return row, execution


def _is_new(row: Any, attempt: int, outcome: dict[str, Any]) -> bool:
    """True for the report of the running attempt, False for the same report again; a
    report of any other attempt is stale."""
    if row.attempt == attempt and row.state == RUNNING:
        return True
    if row.attempt == attempt and (row.result or {}).get("status") == outcome.get("status"):
        return False
    raise StaleReport(
        f"Operation `{row.id}` attempt {attempt} is not running "
        f"(it is {row.state}, attempt {row.attempt}); the report is ignored"
    )


class ReportedResult(NamedTuple):
    operation_id: str
    attempt: int
    outcome: dict[str, Any]
    # The operation's execution, as the worker knows it (saves looking it up).
    execution_id: str | None = None


@dataclass
class WorkerReport:
    """What a worker sends after running operations it claimed (`report_batch`)."""

    results: list[ReportedResult] = field(default_factory=list)
    # Attempts running on the worker whose start is still to be announced.
    started: list[tuple[str, int]] = field(default_factory=list)
    # Attempts the worker claimed but will not run: queued again for any worker.
    released: list[tuple[str, int]] = field(default_factory=list)


def report_batch(
    session: Session,
    batch: WorkerReport,
    outbox: Outbox,
    *,
    worker: str = "",
    want: int = 0,
    lease: float = 30.0,
) -> tuple[dict[str, str], list[Claimed]]:
    """Apply a worker's batch in this transaction, execution by execution: starts to
    announce, results in the order given, attempts given back. With `want`, claim for
    `worker` up to that many operations the results made ready on their queues.

    Returns what became of each operation id ("applied", "repeated", or why it was
    ignored) and the operations claimed for the worker, with their executions."""
    answers: dict[str, str] = {}
    handed: list[Claimed] = []
    attempts: dict[str, int] = {}
    for operation_id, attempt in [*batch.started, *batch.released]:
        attempts[operation_id] = attempt
    for result in batch.results:
        attempts[result.operation_id] = result.attempt
    results = {r.operation_id: r for r in batch.results}
    released = {operation_id for operation_id, _ in batch.released}
    owners = {r.operation_id: r.execution_id for r in batch.results if r.execution_id}
    for execution, rows in _locked_groups(session, list(attempts), answers, owners):
        since = len(outbox.items)
        applied: list[tuple[Any, dict[str, Any]]] = []
        for row in rows:
            attempt = attempts[row.id]
            if row.id in results:
                outcome = results[row.id].outcome
                try:
                    fresh = _is_new(row, attempt, outcome)
                except StaleReport as exc:
                    answers[row.id] = str(exc)
                    continue
                answers[row.id] = "applied" if fresh else "repeated"
                if fresh:
                    applied.append((row, outcome))
            elif row.state != RUNNING or row.attempt != attempt:
                answers[row.id] = f"Operation `{row.id}` attempt {attempt} is not running"
            elif row.id in released:
                answers[row.id] = "released"
                _release(session, execution, row, outbox)
            else:
                announced = announce_start(session, execution, row)
                answers[row.id] = "announced" if announced else "announced already"
        if applied:
            _apply(session, execution, applied, outbox)
            handed += next_for(
                session,
                execution,
                outbox,
                {row.queue for row, _ in applied},
                worker,
                lease,
                limit=want - len(handed),
                since=since,
                published=True,
                skip=released,
            )
        elif released & {row.id for row in rows}:
            check_completion(session, execution, outbox)  # (what it gave back may be held)
    return answers, handed


def _release(session: Session, execution: Execution, row: Any, outbox: Outbox) -> None:
    """A claimed attempt its worker gives back unstarted: queued again, same attempt (held
    pending when the execution no longer starts operations)."""
    now = utcnow()
    held = execution.status != states.STARTED
    session.connection().execute(
        update(_OPERATIONS)
        .where(_OPERATIONS.c.id == row.id)
        .values(
            state=PENDING if held else QUEUED,
            worker=None,
            started_at=None,
            lease_expires_at=None,
            queued_at=now,
            run_after=None,
        )
    )
    if not held:
        # One message each: what is given back is what its worker found slow to get to.
        outbox.add(row.id, row.attempt, row.queue, single=True)


def _apply(
    session: Session,
    execution: Execution,
    reports: Sequence[tuple[Any, dict[str, Any]]],
    outbox: Outbox,
) -> None:
    """Apply new results (locked rows, with their outcomes) of one execution, in order: runs
    of successes in bulk, failures one by one; then end the execution if it is over."""
    queued_before = len(outbox.items)
    succeeded: list[Any] = []
    for row, outcome in reports:
        if row.started_at is None:  # (claimed in a batch, not announced yet)
            events.emit(session, execution, [_started_event(row)])
        events.emit(session, execution, [_worker_event(row, i) for i in outcome.get("logs") or []])
        _save_runtime_properties(session, execution, outcome.get("runtime_properties") or {})
        if outcome.get("status") == "succeeded":
            events.emit(session, execution, [_succeeded_event(row)])
            succeeded.append(row)
            continue
        _succeeded(session, execution, succeeded, outbox)
        succeeded = []
        _not_succeeded(session, execution, row, outcome, outbox)
    _succeeded(session, execution, succeeded, outbox)
    if len(outbox.items) == queued_before or execution.status != states.STARTED:
        # (Something just queued: the execution cannot be over, no need to count.)
        check_completion(session, execution, outbox)


def _succeeded_event(operation: Any) -> dict[str, Any]:
    text = f"Task succeeded '{task_name(operation)}'{retry_suffix(operation)}"
    return _task_event(operation, "task_succeeded", text)


def _succeeded(session: Session, execution: Execution, rows: Sequence[Any], outbox: Outbox) -> None:
    """Operations that succeeded (their rows, as read locked): the common case, written
    through the table in bulk."""
    if not rows:
        return
    now = utcnow()
    session.connection().execute(
        update(_OPERATIONS)
        .where(_OPERATIONS.c.id.in_([row.id for row in rows]))
        .values(
            state=SUCCEEDED,
            started_at=func.coalesce(_OPERATIONS.c.started_at, now),
            ended_at=now,
            lease_expires_at=None,
            result={"status": "succeeded"},
        )
    )
    events.count_finished(session, execution, len(rows))
    _go_on(session, execution, rows, outbox)


def _not_succeeded(
    session: Session, execution: Execution, row: Any, outcome: dict[str, Any], outbox: Outbox
) -> None:
    """A failed or cancelled attempt, through the ORM (rare, and every field matters)."""
    operation = session.get(Operation, row.id)  # (locked)
    assert operation is not None
    operation.lease_expires_at = None
    operation.started_at = operation.started_at or utcnow()
    operation.result = {"status": outcome.get("status")}
    if outcome.get("cancelled"):
        operation.state = CANCELLED
        operation.ended_at = utcnow()
    else:
        _failed(session, execution, operation, outcome, outbox)


def _go_on(session: Session, execution: Execution, done: Sequence[Any], outbox: Outbox) -> None:
    """After operations that let their dependents run: their `then`, then what became ready."""
    session.flush()  # the graph is read and written through the table from here on
    steps = [
        (row.node_instance_id, row.parameters["then"]) for row in done if row.parameters.get("then")
    ]
    if steps:
        _apply_actions(session, execution, steps)
    ready = _decrement(session, [dep for row in done for dep in row.dependents])
    advance(session, execution, ready, outbox)


def retry_number(operation: Any) -> int:
    return max(operation.attempt - 1 - int(operation.parameters.get("retry_base", 0)), 0)


def retry_suffix(operation: Any) -> str:
    number = retry_number(operation)
    return f" [retry {number}/{operation.max_retries}]" if number else ""


def task_name(operation: Any) -> str:
    return str(operation.parameters.get("task") or operation.name)


def _failed(
    session: Session,
    execution: Execution,
    operation: Operation,
    outcome: dict[str, Any],
    outbox: Outbox,
) -> None:
    kind = outcome.get("kind") or "recoverable"
    message = str(outcome.get("message") or "operation failed")
    retry_after = outcome.get("retry_after")
    name, suffix = task_name(operation), retry_suffix(operation)
    can_retry = kind in RETRYABLE_KINDS and (
        operation.max_retries < 0 or retry_number(operation) < operation.max_retries
    )
    causes = list(outcome.get("causes") or [])
    causes.append(
        {
            "message": message,
            "type": outcome.get("exc_type") or "Error",
            "traceback": outcome.get("traceback") or "",
        }
    )
    if kind == "retry":
        event_type = "task_rescheduled"
        after = f" [retry_after={_seconds(retry_after)}]" if retry_after is not None else ""
        text = f"Task rescheduled '{name}' -> {message}{after}{suffix}"
    else:
        event_type = "task_failed"
        text = f"Task failed '{name}' -> {message}{suffix}"
    event = _task_event(operation, event_type, text)
    event["error_causes"] = causes
    events.emit(session, execution, [event])
    operation.error = {"message": message, "kind": kind, "type": outcome.get("exc_type")}
    now = utcnow()
    if can_retry:
        delay = float(retry_after if retry_after is not None else operation.retry_interval)
        operation.attempt += 1
        operation.state = QUEUED
        operation.queued_at = now
        operation.run_after = now + timedelta(seconds=delay)
        operation.worker = None
        if execution.status == states.STARTED:
            outbox.add(operation.id, operation.attempt, operation.queue, delay)
        else:
            operation.state = PENDING  # held for a resume
        return
    operation.state = FAILED
    operation.ended_at = now
    execution.failed_operations += 1
    if operation.parameters.get("ignore_failure"):
        execution.finished_operations += 1
        _go_on(session, execution, [operation], outbox)


def _seconds(value: Any) -> Any:
    """`0.0` reads as `0`, as the number a plugin passed usually was."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _save_runtime_properties(
    session: Session, execution: Execution, changes: dict[str, dict[str, Any]]
) -> None:
    """Write what the operation changed; a concurrent writer's keys are kept (merge by key)."""
    if not changes or execution.is_dry_run:
        return
    instances = session.scalars(
        select(NodeInstance)
        .where(
            NodeInstance.deployment_pk == execution.deployment_pk,
            NodeInstance.id.in_(list(changes)),
        )
        .with_for_update()
    ).all()
    for instance in instances:
        change = changes[instance.id]
        new = change.get("runtime_properties") or {}
        if change.get("version") in (None, instance.version):
            instance.runtime_properties = new
        else:
            base = change.get("base") or {}
            merged = dict(instance.runtime_properties)
            for key in set(base) | set(new):
                if key not in new:
                    merged.pop(key, None)
                elif base.get(key) != new[key] or key not in base:
                    merged[key] = new[key]
            instance.runtime_properties = merged
        instance.version += 1


def _task_event(operation: Any, event_type: str, message: str) -> dict[str, Any]:
    params = operation.parameters
    relationship = params.get("relationship")
    event: dict[str, Any] = {
        "type": "cloudify_event",
        "event_type": event_type,
        "message": message,
        "operation": operation.name,
        "node_instance_id": operation.node_instance_id,
        "node_name": params.get("node_id")
        if not relationship
        else _node_of(operation.node_instance_id),
    }
    if relationship:
        event["source_id"] = relationship["source_id"]
        event["target_id"] = relationship["target_id"]
    return event


def _worker_event(operation: Any, item: dict[str, Any]) -> dict[str, Any]:
    event = _task_event(operation, item.get("event_type") or "", str(item.get("message") or ""))
    if item.get("event_type"):
        event["type"] = "cloudify_event"
    else:
        event["type"] = "cloudify_log"
        event["event_type"] = None
        event["level"] = str(item.get("level") or "info").lower()
        event["logger"] = item.get("logger")
    return event
