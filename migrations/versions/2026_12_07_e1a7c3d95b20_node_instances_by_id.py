"""An index of node instances by id.

Why: the engine finds the instances an operation touches by deployment and id. No index
started with the id, so PostgreSQL took (deployment_pk, node_id) and read every instance of
the deployment for each such lookup (500 rows for one state change of a 500-node install).
The lookups now go by id, the deployment only filtering what they find.

Revision ID: e1a7c3d95b20
Revises: d3e5a1f07c42
Create Date: 2026-12-07 06:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e1a7c3d95b20"
down_revision: str | None = "d3e5a1f07c42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("node_instances", schema=None) as batch_op:
        batch_op.create_index("ix_node_instances_id", ["id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("node_instances", schema=None) as batch_op:
        batch_op.drop_index("ix_node_instances_id")
