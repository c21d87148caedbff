"""Uploaded plugins (wagons, wheels, sdists) and their install state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from manager.db.base import Base
from manager.db.resources import TenantOwned


class Plugin(TenantOwned, Base):
    __tablename__ = "plugins"
    __table_args__ = (UniqueConstraint("tenant_pk", "package_name", "package_version"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    package_name: Mapped[str] = mapped_column(String(255))
    package_version: Mapped[str] = mapped_column(String(64))
    package_source: Mapped[str | None] = mapped_column(String(1024))
    archive_name: Mapped[str] = mapped_column(String(255))
    distribution: Mapped[str | None] = mapped_column(String(64))
    distribution_release: Mapped[str | None] = mapped_column(String(64))
    distribution_version: Mapped[str | None] = mapped_column(String(64))
    supported_platform: Mapped[str | None] = mapped_column(String(255))
    supported_py_versions: Mapped[list[Any]] = mapped_column(default=list)
    title: Mapped[str | None] = mapped_column(String(255))
    yaml_files_paths: Mapped[list[Any]] = mapped_column(default=list)
    wheels: Mapped[list[Any]] = mapped_column(default=list)
    excluded_wheels: Mapped[list[Any]] = mapped_column(default=list)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    blueprint_labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resource_tags: Mapped[dict[str, Any] | None]
    # Summary of the reports below: pending, installing, installed or error.
    installation_state: Mapped[str] = mapped_column(String(32), default="pending")
    # The installer's own error text when installation failed.
    installation_error: Mapped[str | None] = mapped_column(Text)
    # One entry per worker (`manager`) or agent that reported installing the plugin:
    # {manager | agent, state, error, reported_at}; served as Cloudify's `installation_state`.
    installation_reports: Mapped[list[Any]] = mapped_column(default=list)
