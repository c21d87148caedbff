"""Deployment updates: the record of each `cfy deployments update`.

Why: a running deployment could not take a new blueprint or new inputs (the only way to fix
one of its scripts was to delete it). Each update keeps its old and new blueprint and inputs,
the steps found between the two plans, its state and its `update` execution, so that
`cfy deployments history` can list them.

Revision ID: d3e5a1f07c42
Revises: c4e8a1f06d27
Create Date: 2026-12-06 23:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d3e5a1f07c42"
down_revision: str | None = "c4e8a1f06d27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "deployment_updates",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("deployment_pk", sa.Integer(), nullable=False),
        sa.Column("old_blueprint_id", sa.String(length=255), nullable=True),
        sa.Column("new_blueprint_id", sa.String(length=255), nullable=True),
        sa.Column("old_inputs", JSON_DOC, nullable=False),
        sa.Column("new_inputs", JSON_DOC, nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("steps", JSON_DOC, nullable=False),
        sa.Column("modified_entity_ids", JSON_DOC, nullable=False),
        sa.Column("runtime_only_evaluation", sa.Boolean(), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("created_by_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_pk"],
            ["users.pk"],
            name=op.f("fk_deployment_updates_created_by_pk_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_pk"],
            ["deployments.pk"],
            name=op.f("fk_deployment_updates_deployment_pk_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_deployment_updates_execution_id_executions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_deployment_updates_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_deployment_updates")),
        sa.UniqueConstraint("tenant_pk", "id", name=op.f("uq_deployment_updates_tenant_pk_id")),
    )
    with op.batch_alter_table("deployment_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_updates_deployment_pk"), ["deployment_pk"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deployment_updates_id"), ["id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_deployment_updates_tenant_pk"), ["tenant_pk"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deployment_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_updates_tenant_pk"))
        batch_op.drop_index(batch_op.f("ix_deployment_updates_id"))
        batch_op.drop_index(batch_op.f("ix_deployment_updates_deployment_pk"))
    op.drop_table("deployment_updates")
