"""Login failures: counts of failed password checks per user name and per client address.

Why: nothing slowed down password guessing (40 wrong passwords at 11/s all got 401). The
limits must hold across API processes (`quarterdeck api --workers N`) and replicas, so the
counts live in the database, one row per user name or address and time window.

Revision ID: b7d41c9e2a53
Revises: 5f2c8a91d3e7
Create Date: 2026-12-06 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d41c9e2a53"
down_revision: str | None = "5f2c8a91d3e7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_failures_window_started_at"), ["window_started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_window_started_at"))
    op.drop_table("login_failures")
