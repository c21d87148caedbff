"""Uploaded blueprints and their parsed plans."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from manager.db.base import Base, utcnow
from manager.db.resources import TenantOwned

if TYPE_CHECKING:
    from manager.db.executions import Execution


class Blueprint(TenantOwned, Base):
    __tablename__ = "blueprints"
    __table_args__ = (UniqueConstraint("tenant_pk", "id"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(255), index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    state: Mapped[str] = mapped_column(String(32), default="uploading")
    error: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)
    main_file_name: Mapped[str | None] = mapped_column(String(255))
    # Large: loaded only when read (executions and deployments join their blueprint).
    plan: Mapped[dict[str, Any] | None] = mapped_column(deferred=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_hidden: Mapped[bool] = mapped_column(default=False)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    upload_execution_id: Mapped[str | None] = mapped_column(
        ForeignKey("executions.id", ondelete="SET NULL", use_alter=True)
    )

    upload_execution: Mapped[Execution | None] = relationship(
        foreign_keys=[upload_execution_id], lazy="select", post_update=True
    )
