"""Columns shared by every tenant-owned resource (tenant, visibility, creator, times)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from manager.db.base import utcnow
from manager.db.identity import Tenant, User


class TenantOwned:
    """Mixin: the owning tenant, who created it, when, and who may see it."""

    @declared_attr
    def tenant_pk(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("tenants.pk", ondelete="CASCADE"), index=True)

    @declared_attr
    def created_by_pk(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.pk", ondelete="SET NULL"))

    # Loaded with the row: every response names the tenant and the creator.
    @declared_attr
    def tenant(cls) -> Mapped[Tenant]:
        return relationship(Tenant, lazy="joined", innerjoin=True)

    @declared_attr
    def creator(cls) -> Mapped[User | None]:
        return relationship(User, lazy="joined")

    # private, tenant or global
    visibility: Mapped[str] = mapped_column(String(16), default="tenant")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
