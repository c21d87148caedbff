"""Deployment groups (named sets of deployments) and execution groups (one workflow run on
every deployment of a group, a few at a time)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from manager.db.base import Base
from manager.db.blueprints import Blueprint
from manager.db.deployments import Deployment
from manager.db.executions import Execution
from manager.db.resources import TenantOwned

# Which deployments belong to which groups; a deployment may be in many groups.
deployment_group_members = Table(
    "deployment_group_members",
    Base.metadata,
    Column("group_pk", ForeignKey("deployment_groups.pk", ondelete="CASCADE"), primary_key=True),
    Column(
        "deployment_pk",
        ForeignKey("deployments.pk", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

# The executions an execution group started.
execution_group_members = Table(
    "execution_group_members",
    Base.metadata,
    Column("group_pk", ForeignKey("execution_groups.pk", ondelete="CASCADE"), primary_key=True),
    Column(
        "execution_id",
        ForeignKey("executions.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class DeploymentGroup(TenantOwned, Base):
    __tablename__ = "deployment_groups"
    __table_args__ = (UniqueConstraint("tenant_pk", "id"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    # What new deployments made through the group would use (kept and returned only).
    default_blueprint_pk: Mapped[int | None] = mapped_column(
        ForeignKey("blueprints.pk", ondelete="SET NULL")
    )
    default_inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # [{"key", "value", "created_at", "created_by"}]; every member deployment gets them too.
    labels: Mapped[list[Any]] = mapped_column(default=list)

    default_blueprint: Mapped[Blueprint | None] = relationship(lazy="joined")
    deployments: Mapped[list[Deployment]] = relationship(
        secondary=deployment_group_members,
        lazy="selectin",
        order_by=Deployment.id,
        back_populates="deployment_groups",
    )


class ExecutionGroup(TenantOwned, Base):
    __tablename__ = "execution_groups"

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    deployment_group_pk: Mapped[int | None] = mapped_column(
        ForeignKey("deployment_groups.pk", ondelete="SET NULL")
    )
    # Kept as text too, so the record still names its group after the group is deleted.
    deployment_group_id: Mapped[str | None] = mapped_column(String(255))
    workflow_id: Mapped[str] = mapped_column(String(255))
    # How many of its executions may run at once; the others wait as `queued`.
    concurrency: Mapped[int] = mapped_column(Integer, default=5)
    # Where deployments whose execution terminated (or failed) are added afterwards.
    success_group_pk: Mapped[int | None] = mapped_column(
        ForeignKey("deployment_groups.pk", ondelete="SET NULL")
    )
    failure_group_pk: Mapped[int | None] = mapped_column(
        ForeignKey("deployment_groups.pk", ondelete="SET NULL")
    )

    executions: Mapped[list[Execution]] = relationship(
        secondary=execution_group_members, lazy="selectin", order_by=Execution.created_at
    )
