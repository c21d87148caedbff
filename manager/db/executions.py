"""Executions, their operation graphs and their events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from manager.db.base import Base, utcnow
from manager.db.deployments import Deployment
from manager.db.resources import TenantOwned


class Execution(TenantOwned, Base):
    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_deployment_status", "deployment_pk", "status"),
        Index("ix_executions_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    deployment_pk: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.pk", ondelete="CASCADE")
    )
    # Kept as text so upload executions (no deployment) and deleted blueprints still read.
    blueprint_id: Mapped[str | None] = mapped_column(String(255))
    workflow_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="pending")
    error: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_system_workflow: Mapped[bool] = mapped_column(default=False)
    is_dry_run: Mapped[bool] = mapped_column(default=False)
    allow_custom_parameters: Mapped[bool] = mapped_column(default=False)
    resume: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    scheduled_for: Mapped[datetime | None]
    # SHA-256 of the execution token given to plugin code; never returned.
    token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    total_operations: Mapped[int] = mapped_column(default=0)
    finished_operations: Mapped[int] = mapped_column(default=0)
    failed_operations: Mapped[int] = mapped_column(default=0)
    # Per-execution event counter: taken under this row's lock, so events commit in order.
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)

    deployment: Mapped[Deployment | None] = relationship(
        foreign_keys=[deployment_pk], lazy="joined"
    )

    @property
    def deployment_id(self) -> str | None:
        return self.deployment.id if self.deployment is not None else None


class Operation(Base):
    """One node of an execution's graph: an operation call, a state change or an event."""

    __tablename__ = "operations"
    __table_args__ = (
        Index("ix_operations_execution_state", "execution_id", "state"),
        Index("ix_operations_state_lease", "state", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    # operation, set_state, event, nop
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    node_instance_id: Mapped[str | None] = mapped_column(String(255))
    # pending, queued, running, succeeded, failed, cancelled, skipped
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=0)
    retry_interval: Mapped[float] = mapped_column(default=0.0)
    timeout: Mapped[float | None]
    # Celery queue this operation is routed to (central or a host agent's).
    queue: Mapped[str] = mapped_column(String(255), default="central")
    # Number of dependencies not yet finished; the operation is ready at zero.
    waiting_on: Mapped[int] = mapped_column(Integer, default=0)
    dependents: Mapped[list[Any]] = mapped_column(default=list)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    error: Mapped[dict[str, Any] | None]
    worker: Mapped[str | None] = mapped_column(String(255))
    queued_at: Mapped[datetime | None]
    run_after: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_execution_seq", "execution_id", "seq"),)

    pk: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant_pk: Mapped[int] = mapped_column(ForeignKey("tenants.pk", ondelete="CASCADE"), index=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    deployment_id: Mapped[str | None] = mapped_column(String(255), index=True)
    blueprint_id: Mapped[str | None] = mapped_column(String(255))
    workflow_id: Mapped[str | None] = mapped_column(String(255))
    # cloudify_event or cloudify_log
    type: Mapped[str] = mapped_column(String(16))
    event_type: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str | None] = mapped_column(String(16))
    logger: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text, default="")
    operation: Mapped[str | None] = mapped_column(String(255))
    node_instance_id: Mapped[str | None] = mapped_column(String(255))
    node_name: Mapped[str | None] = mapped_column(String(255))
    source_id: Mapped[str | None] = mapped_column(String(255))
    target_id: Mapped[str | None] = mapped_column(String(255))
    error_causes: Mapped[list[Any] | None]
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    reported_timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceLease(Base):
    """A named lease held by one process at a time (the active watchdog)."""

    __tablename__ = "service_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime]
