"""Plugins: per-worker installation reports.

Why: every worker builds its own virtualenv for a plugin, so installation succeeds or fails
per worker; `cfy plugins list/get` reads Cloudify's `installation_state` as a list of
per-manager/agent entries. One summary string and one error text cannot hold that.

Revision ID: 5f2c8a91d3e7
Revises: 0001
Create Date: 2026-11-29 23:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "5f2c8a91d3e7"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills existing rows; the model sets the value on insert.
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("installation_reports", JSON_DOC, nullable=False, server_default="[]")
        )
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.alter_column("installation_reports", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.drop_column("installation_reports")
