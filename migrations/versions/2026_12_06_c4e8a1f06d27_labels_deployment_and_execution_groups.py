"""Deployment groups and execution groups, with their members (helper `labels`).

Why: Cloudify's `/deployment-groups` and `/execution-groups` (issue 13): a named set of
deployments, which `deployment_settings.default_groups` and `cfy deployments groups` fill, and
one workflow run on each of its deployments with a concurrency limit, whose status follows its
executions. Labels themselves stay in the JSON `labels` columns of blueprints and deployments.

Revision ID: c4e8a1f06d27
Revises: b7d41c9e2a53
Create Date: 2026-12-06 23:19:53.725263
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "c4e8a1f06d27"
down_revision: str | None = "b7d41c9e2a53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployment_groups",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("default_blueprint_pk", sa.Integer(), nullable=True),
        sa.Column("default_inputs", JSON_DOC, nullable=False),
        sa.Column("labels", JSON_DOC, nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("created_by_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_pk"],
            ["users.pk"],
            name=op.f("fk_deployment_groups_created_by_pk_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["default_blueprint_pk"],
            ["blueprints.pk"],
            name=op.f("fk_deployment_groups_default_blueprint_pk_blueprints"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_deployment_groups_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_deployment_groups")),
        sa.UniqueConstraint("tenant_pk", "id", name=op.f("uq_deployment_groups_tenant_pk_id")),
    )
    with op.batch_alter_table("deployment_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment_groups_id"), ["id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_deployment_groups_tenant_pk"), ["tenant_pk"], unique=False
        )

    op.create_table(
        "deployment_group_members",
        sa.Column("group_pk", sa.Integer(), nullable=False),
        sa.Column("deployment_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_pk"],
            ["deployments.pk"],
            name=op.f("fk_deployment_group_members_deployment_pk_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_pk"],
            ["deployment_groups.pk"],
            name=op.f("fk_deployment_group_members_group_pk_deployment_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "group_pk", "deployment_pk", name=op.f("pk_deployment_group_members")
        ),
    )
    with op.batch_alter_table("deployment_group_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployment_group_members_deployment_pk"), ["deployment_pk"], unique=False
        )

    op.create_table(
        "execution_groups",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deployment_group_pk", sa.Integer(), nullable=True),
        sa.Column("deployment_group_id", sa.String(length=255), nullable=True),
        sa.Column("workflow_id", sa.String(length=255), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("success_group_pk", sa.Integer(), nullable=True),
        sa.Column("failure_group_pk", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("created_by_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_pk"],
            ["users.pk"],
            name=op.f("fk_execution_groups_created_by_pk_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_group_pk"],
            ["deployment_groups.pk"],
            name=op.f("fk_execution_groups_deployment_group_pk_deployment_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["failure_group_pk"],
            ["deployment_groups.pk"],
            name=op.f("fk_execution_groups_failure_group_pk_deployment_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["success_group_pk"],
            ["deployment_groups.pk"],
            name=op.f("fk_execution_groups_success_group_pk_deployment_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_execution_groups_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_execution_groups")),
        sa.UniqueConstraint("id", name=op.f("uq_execution_groups_id")),
    )
    with op.batch_alter_table("execution_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_execution_groups_tenant_pk"), ["tenant_pk"], unique=False
        )

    op.create_table(
        "execution_group_members",
        sa.Column("group_pk", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_execution_group_members_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_pk"],
            ["execution_groups.pk"],
            name=op.f("fk_execution_group_members_group_pk_execution_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "group_pk", "execution_id", name=op.f("pk_execution_group_members")
        ),
    )
    with op.batch_alter_table("execution_group_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_execution_group_members_execution_id"), ["execution_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("execution_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_execution_group_members_execution_id"))

    op.drop_table("execution_group_members")
    with op.batch_alter_table("execution_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_execution_groups_tenant_pk"))

    op.drop_table("execution_groups")
    with op.batch_alter_table("deployment_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_group_members_deployment_pk"))

    op.drop_table("deployment_group_members")
    with op.batch_alter_table("deployment_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_groups_tenant_pk"))
        batch_op.drop_index(batch_op.f("ix_deployment_groups_id"))

    op.drop_table("deployment_groups")
