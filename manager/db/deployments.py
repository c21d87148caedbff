"""Deployments, their nodes and node instances."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from manager.db.base import Base, unindexed, utcnow
from manager.db.blueprints import Blueprint

if TYPE_CHECKING:
    from manager.db.executions import Execution
    from manager.db.groups import DeploymentGroup
from manager.db.resources import TenantOwned


class Deployment(TenantOwned, Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("tenant_pk", "id"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(255), index=True)
    blueprint_pk: Mapped[int] = mapped_column(ForeignKey("blueprints.pk"), index=True)
    display_name: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    description: Mapped[str | None] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Definitions from the plan; values are evaluated on read.
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict, deferred=True)
    capabilities: Mapped[dict[str, Any]] = mapped_column(default=dict, deferred=True)
    groups: Mapped[dict[str, Any]] = mapped_column(default=dict, deferred=True)
    policy_types: Mapped[dict[str, Any]] = mapped_column(default=dict, deferred=True)
    policy_triggers: Mapped[dict[str, Any]] = mapped_column(default=dict, deferred=True)
    scaling_groups: Mapped[dict[str, Any]] = mapped_column(default=dict, deferred=True)
    workflows: Mapped[dict[str, Any]] = mapped_column(default=dict, deferred=True)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    resource_tags: Mapped[dict[str, Any] | None]
    site_name: Mapped[str | None] = mapped_column(String(255))
    runtime_only_evaluation: Mapped[bool] = mapped_column(default=False)
    installation_status: Mapped[str] = mapped_column(String(16), default="inactive")
    deployment_status: Mapped[str] = mapped_column(String(32), default="good")
    latest_execution_id: Mapped[str | None] = mapped_column(
        ForeignKey("executions.id", ondelete="SET NULL", use_alter=True)
    )
    create_execution_id: Mapped[str | None] = mapped_column(
        ForeignKey("executions.id", ondelete="SET NULL", use_alter=True)
    )

    blueprint: Mapped[Blueprint] = relationship(lazy="joined", innerjoin=True)
    latest_execution: Mapped[Execution | None] = relationship(
        foreign_keys=[latest_execution_id], lazy="select", post_update=True
    )
    # The deployment groups it belongs to (manager.db.groups).
    deployment_groups: Mapped[list[DeploymentGroup]] = relationship(
        secondary="deployment_group_members", back_populates="deployments", lazy="select"
    )


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("deployment_pk", "id"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    deployment_pk: Mapped[int] = mapped_column(ForeignKey("deployments.pk", ondelete="CASCADE"))
    id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(255))
    type_hierarchy: Mapped[list[Any]] = mapped_column(default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    operations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    relationships: Mapped[list[Any]] = mapped_column(default=list)
    plugins: Mapped[list[Any]] = mapped_column(default=list)
    plugins_to_install: Mapped[list[Any] | None]
    capabilities: Mapped[dict[str, Any] | None]
    host_id: Mapped[str | None] = mapped_column(String(255))
    number_of_instances: Mapped[int] = mapped_column(default=1)
    planned_number_of_instances: Mapped[int] = mapped_column(default=1)
    deploy_number_of_instances: Mapped[int] = mapped_column(default=1)
    min_number_of_instances: Mapped[int] = mapped_column(default=0)
    max_number_of_instances: Mapped[int] = mapped_column(default=-1)


class NodeInstance(Base):
    __tablename__ = "node_instances"
    __table_args__ = (
        UniqueConstraint("tenant_pk", "id"),
        Index("ix_node_instances_deployment_node", "deployment_pk", "node_id"),
        # How the engine finds the instances an operation touches (`of_deployment`).
        Index("ix_node_instances_id", "id"),
    )

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(255))
    tenant_pk: Mapped[int] = mapped_column(ForeignKey("tenants.pk", ondelete="CASCADE"))
    deployment_pk: Mapped[int] = mapped_column(ForeignKey("deployments.pk", ondelete="CASCADE"))
    node_pk: Mapped[int] = mapped_column(ForeignKey("nodes.pk", ondelete="CASCADE"), index=True)
    # The node's id, kept here too because every list filters and sorts by it.
    node_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32), default="uninitialized")
    runtime_properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    system_properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    relationships: Mapped[list[Any]] = mapped_column(default=list)
    scaling_groups: Mapped[list[Any]] = mapped_column(default=list)
    host_id: Mapped[str | None] = mapped_column(String(255))
    index: Mapped[int] = mapped_column(default=0)
    # Optimistic lock: bumped on every change (Cloudify's node-instance version rule).
    version: Mapped[int] = mapped_column(default=1)


def of_deployment(deployment_pk: Any, ids: Any) -> ColumnElement[bool]:
    """The node instances of a deployment with these ids (a list, or a bound parameter
    that expands to one), found by their ids: the deployment only filters what the id
    index finds (see `base.unindexed`)."""
    return (NodeInstance.id.in_(ids)) & (unindexed(NodeInstance.deployment_pk) == deployment_pk)


def new_instance_row(
    tenant_pk: int,
    deployment_pk: int,
    node_pk: int,
    planned: dict[str, Any],
    *,
    relationships: list[Any],
    host_id: str | None,
) -> dict[str, Any]:
    """The row of a node instance the plan adds (a scale-out, a deployment update), for a
    bulk insert: uninitialized, no properties yet, version 1."""
    return {
        "id": planned["id"],
        "tenant_pk": tenant_pk,
        "deployment_pk": deployment_pk,
        "node_pk": node_pk,
        "node_id": planned["node_id"],
        "state": "uninitialized",
        "runtime_properties": {},
        "system_properties": {},
        "relationships": relationships,
        "scaling_groups": planned.get("scaling_groups") or [],
        "host_id": host_id,
        "index": planned.get("index", 0),
        "version": 1,
    }
