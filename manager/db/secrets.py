"""Secrets, stored encrypted (Fernet) and never returned when hidden."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from manager.db.base import Base, utcnow
from manager.db.resources import TenantOwned


class Secret(TenantOwned, Base):
    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("tenant_pk", "key"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    encrypted_value: Mapped[str] = mapped_column(Text)
    is_hidden_value: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    schema: Mapped[dict[str, Any] | None]
    provider_name: Mapped[str | None] = mapped_column(String(255))
    provider_options: Mapped[dict[str, Any] | None]
