"""Deployment updates: one row per `cfy deployments update`, read back by `cfy deployments
history`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from manager.db.base import Base
from manager.db.deployments import Deployment
from manager.db.resources import TenantOwned


class DeploymentUpdate(TenantOwned, Base):
    __tablename__ = "deployment_updates"
    __table_args__ = (UniqueConstraint("tenant_pk", "id"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(300), index=True)
    deployment_pk: Mapped[int] = mapped_column(
        ForeignKey("deployments.pk", ondelete="CASCADE"), index=True
    )
    # Blueprints are referenced by id text, like executions: a blueprint deleted later must
    # not take the history with it.
    old_blueprint_id: Mapped[str | None] = mapped_column(String(255))
    new_blueprint_id: Mapped[str | None] = mapped_column(String(255))
    old_inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    new_inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # updating, successful or failed (Cloudify's states; preview updates are not stored).
    state: Mapped[str] = mapped_column(String(32), default="updating")
    # The steps as Cloudify lists them: {action, entity_type, entity_id, topology_order}.
    steps: Mapped[list[Any]] = mapped_column(default=list)
    modified_entity_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)
    runtime_only_evaluation: Mapped[bool] = mapped_column(default=False)
    execution_id: Mapped[str | None] = mapped_column(
        ForeignKey("executions.id", ondelete="SET NULL")
    )

    deployment: Mapped[Deployment] = relationship(lazy="joined", innerjoin=True)
