"""What the live event streams read: the stream's subject, checked once, then the events
stored after the last one a client has.

An execution's stream numbers events by their per-execution sequence (`seq`), which is
the order they were committed in (manager.db.event_store), so resuming after a number
never skips or repeats an event. A deployment's stream numbers them by their storage id:
one execution's events are stored in the order of their sequence, and a deployment runs
one execution at a time (others wait queued), so that order is also the commit order. (An
execution started with `force` beside a running one may commit events out of storage-id
order; a deployment stream resumed at that moment could miss some of them. An execution's
own stream never does.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Event, Execution
from manager.orchestration.executions import END_STATES
from manager.services import deployments, executions
from manager.services.identity import Principal

# Events read per query: a client far behind gets them in batches of this many.
BATCH = 500


@dataclass(frozen=True)
class ExecutionSubject:
    execution_id: str
    tenant_pk: int


@dataclass(frozen=True)
class DeploymentSubject:
    deployment_id: str
    tenant_pk: int


def execution_subject(
    session: Session, principal: Principal, execution_id: str
) -> ExecutionSubject:
    """The execution the caller may read (404 otherwise)."""
    execution = executions.get(session, principal, execution_id)
    return ExecutionSubject(execution.id, execution.tenant_pk)


def deployment_subject(
    session: Session, principal: Principal, deployment_id: str
) -> DeploymentSubject:
    """The deployment the caller may read (404 otherwise). Its events are those its own
    tenant's executions stored, which is where a deployment's executions run."""
    deployment = deployments.get(session, principal, deployment_id)
    return DeploymentSubject(deployment.id, deployment.tenant_pk)


def execution_events_after(
    session: Session, subject: ExecutionSubject, after: int
) -> tuple[list[Event], bool]:
    """Up to BATCH events of the execution numbered after `after`, and whether the stream
    may end once they are sent: the execution had ended before they were read, and they are
    the last ones (every event of an execution is stored before its end status)."""
    status = session.scalar(select(Execution.status).where(Execution.id == subject.execution_id))
    rows = list(
        session.scalars(
            select(Event)
            .where(Event.execution_id == subject.execution_id, Event.seq > after)
            .order_by(Event.seq)
            .limit(BATCH)
        )
    )
    ended = status is None or status in END_STATES
    return rows, ended and len(rows) < BATCH


def execution_status(session: Session, subject: ExecutionSubject) -> str | None:
    status: str | None = session.scalar(
        select(Execution.status).where(Execution.id == subject.execution_id)
    )
    return status


def deployment_events_after(
    session: Session, subject: DeploymentSubject, after: int
) -> list[Event]:
    """Up to BATCH events of the deployment's executions stored after storage id `after`."""
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.tenant_pk == subject.tenant_pk,
                Event.deployment_id == subject.deployment_id,
                Event.pk > after,
            )
            .order_by(Event.pk)
            .limit(BATCH)
        )
    )


def last_deployment_event(session: Session, subject: DeploymentSubject) -> int:
    """The storage id of the deployment's newest event (0 if none): where a new client of
    the deployment's stream starts when it asks only for what happens from now on."""
    last: Any = session.scalar(
        select(Event.pk)
        .where(Event.tenant_pk == subject.tenant_pk, Event.deployment_id == subject.deployment_id)
        .order_by(Event.pk.desc())
        .limit(1)
    )
    return int(last or 0)
