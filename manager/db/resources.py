"""Columns shared by every tenant-owned resource (tenant, visibility, creator, times)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from manager.db.base import utcnow


class TenantOwned:
    """Mixin: the owning tenant, who created it, when, and who may see it."""

    @declared_attr
    def tenant_pk(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("tenants.pk", ondelete="CASCADE"), index=True)

    @declared_attr
    def created_by_pk(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.pk", ondelete="SET NULL"))

    # private, tenant or global
    visibility: Mapped[str] = mapped_column(String(16), default="tenant")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
