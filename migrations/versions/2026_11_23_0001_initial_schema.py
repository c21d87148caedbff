"""Initial schema: tenants, users, blueprints, deployments, executions and their graph.

Why: the first release needs every table the API, engine and plugin registry share;
later changes each get their own revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:42:52.067836
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_service_leases")),
    )
    op.create_table(
        "tenants",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "users",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "blueprints",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_traceback", sa.Text(), nullable=True),
        sa.Column("main_file_name", sa.String(length=255), nullable=True),
        sa.Column("plan", JSON_DOC, nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_hidden", sa.Boolean(), nullable=False),
        sa.Column("labels", JSON_DOC, nullable=False),
        sa.Column("upload_execution_id", sa.String(length=36), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("created_by_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_pk"],
            ["users.pk"],
            name=op.f("fk_blueprints_created_by_pk_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_blueprints_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_blueprints")),
        sa.UniqueConstraint("tenant_pk", "id", name=op.f("uq_blueprints_tenant_pk_id")),
    )
    with op.batch_alter_table("blueprints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_blueprints_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_blueprints_tenant_pk"), ["tenant_pk"], unique=False)

    op.create_table(
        "plugins",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("package_name", sa.String(length=255), nullable=False),
        sa.Column("package_version", sa.String(length=64), nullable=False),
        sa.Column("package_source", sa.String(length=1024), nullable=True),
        sa.Column("archive_name", sa.String(length=255), nullable=False),
        sa.Column("distribution", sa.String(length=64), nullable=True),
        sa.Column("distribution_release", sa.String(length=64), nullable=True),
        sa.Column("distribution_version", sa.String(length=64), nullable=True),
        sa.Column("supported_platform", sa.String(length=255), nullable=True),
        sa.Column("supported_py_versions", JSON_DOC, nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("yaml_files_paths", JSON_DOC, nullable=False),
        sa.Column("wheels", JSON_DOC, nullable=False),
        sa.Column("excluded_wheels", JSON_DOC, nullable=False),
        sa.Column("labels", JSON_DOC, nullable=False),
        sa.Column("blueprint_labels", JSON_DOC, nullable=False),
        sa.Column("resource_tags", JSON_DOC, nullable=True),
        sa.Column("installation_state", sa.String(length=32), nullable=False),
        sa.Column("installation_error", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("created_by_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_pk"],
            ["users.pk"],
            name=op.f("fk_plugins_created_by_pk_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_plugins_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_plugins")),
        sa.UniqueConstraint("id", name=op.f("uq_plugins_id")),
        sa.UniqueConstraint(
            "tenant_pk",
            "package_name",
            "package_version",
            name=op.f("uq_plugins_tenant_pk_package_name_package_version"),
        ),
    )
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plugins_tenant_pk"), ["tenant_pk"], unique=False)

    op.create_table(
        "secrets",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("encrypted_value", sa.Text(), nullable=False),
        sa.Column("is_hidden_value", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("schema", JSON_DOC, nullable=True),
        sa.Column("provider_name", sa.String(length=255), nullable=True),
        sa.Column("provider_options", JSON_DOC, nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("created_by_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_pk"],
            ["users.pk"],
            name=op.f("fk_secrets_created_by_pk_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_secrets_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_secrets")),
        sa.UniqueConstraint("tenant_pk", "key", name=op.f("uq_secrets_tenant_pk_key")),
    )
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secrets_tenant_pk"), ["tenant_pk"], unique=False)

    op.create_table(
        "tenant_memberships",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_tenant_memberships_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.pk"],
            name=op.f("fk_tenant_memberships_user_pk_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_tenant_memberships")),
        sa.UniqueConstraint(
            "user_pk", "tenant_pk", name=op.f("uq_tenant_memberships_user_pk_tenant_pk")
        ),
    )
    with op.batch_alter_table("tenant_memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tenant_memberships_tenant_pk"), ["tenant_pk"], unique=False
        )

    op.create_table(
        "tokens",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("fk_tokens_user_pk_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_tokens")),
        sa.UniqueConstraint("id", name=op.f("uq_tokens_id")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_user_pk"), ["user_pk"], unique=False)

    op.create_table(
        "deployments",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("blueprint_pk", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("inputs", JSON_DOC, nullable=False),
        sa.Column("outputs", JSON_DOC, nullable=False),
        sa.Column("capabilities", JSON_DOC, nullable=False),
        sa.Column("groups", JSON_DOC, nullable=False),
        sa.Column("policy_types", JSON_DOC, nullable=False),
        sa.Column("policy_triggers", JSON_DOC, nullable=False),
        sa.Column("scaling_groups", JSON_DOC, nullable=False),
        sa.Column("workflows", JSON_DOC, nullable=False),
        sa.Column("labels", JSON_DOC, nullable=False),
        sa.Column("resource_tags", JSON_DOC, nullable=True),
        sa.Column("site_name", sa.String(length=255), nullable=True),
        sa.Column("runtime_only_evaluation", sa.Boolean(), nullable=False),
        sa.Column("installation_status", sa.String(length=16), nullable=False),
        sa.Column("deployment_status", sa.String(length=32), nullable=False),
        sa.Column("latest_execution_id", sa.String(length=36), nullable=True),
        sa.Column("create_execution_id", sa.String(length=36), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("created_by_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["blueprint_pk"], ["blueprints.pk"], name=op.f("fk_deployments_blueprint_pk_blueprints")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_pk"],
            ["users.pk"],
            name=op.f("fk_deployments_created_by_pk_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_deployments_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_deployments")),
        sa.UniqueConstraint("tenant_pk", "id", name=op.f("uq_deployments_tenant_pk_id")),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deployments_blueprint_pk"), ["blueprint_pk"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deployments_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deployments_tenant_pk"), ["tenant_pk"], unique=False)

    op.create_table(
        "executions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("deployment_pk", sa.Integer(), nullable=True),
        sa.Column("blueprint_id", sa.String(length=255), nullable=True),
        sa.Column("workflow_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("parameters", JSON_DOC, nullable=False),
        sa.Column("is_system_workflow", sa.Boolean(), nullable=False),
        sa.Column("is_dry_run", sa.Boolean(), nullable=False),
        sa.Column("allow_custom_parameters", sa.Boolean(), nullable=False),
        sa.Column("resume", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("total_operations", sa.Integer(), nullable=False),
        sa.Column("finished_operations", sa.Integer(), nullable=False),
        sa.Column("failed_operations", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("created_by_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_pk"],
            ["users.pk"],
            name=op.f("fk_executions_created_by_pk_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_pk"],
            ["deployments.pk"],
            name=op.f("fk_executions_deployment_pk_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_executions_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
    )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_executions_deployment_status", ["deployment_pk", "status"], unique=False
        )
        batch_op.create_index("ix_executions_status", ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_executions_tenant_pk"), ["tenant_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_executions_token_hash"), ["token_hash"], unique=False)

    op.create_table(
        "nodes",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("deployment_pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("type_hierarchy", JSON_DOC, nullable=False),
        sa.Column("properties", JSON_DOC, nullable=False),
        sa.Column("operations", JSON_DOC, nullable=False),
        sa.Column("relationships", JSON_DOC, nullable=False),
        sa.Column("plugins", JSON_DOC, nullable=False),
        sa.Column("plugins_to_install", JSON_DOC, nullable=True),
        sa.Column("capabilities", JSON_DOC, nullable=True),
        sa.Column("host_id", sa.String(length=255), nullable=True),
        sa.Column("number_of_instances", sa.Integer(), nullable=False),
        sa.Column("planned_number_of_instances", sa.Integer(), nullable=False),
        sa.Column("deploy_number_of_instances", sa.Integer(), nullable=False),
        sa.Column("min_number_of_instances", sa.Integer(), nullable=False),
        sa.Column("max_number_of_instances", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_pk"],
            ["deployments.pk"],
            name=op.f("fk_nodes_deployment_pk_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_nodes")),
        sa.UniqueConstraint("deployment_pk", "id", name=op.f("uq_nodes_deployment_pk_id")),
    )
    op.create_table(
        "events",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=True),
        sa.Column("blueprint_id", sa.String(length=255), nullable=True),
        sa.Column("workflow_id", sa.String(length=255), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("logger", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("operation", sa.String(length=255), nullable=True),
        sa.Column("node_instance_id", sa.String(length=255), nullable=True),
        sa.Column("node_name", sa.String(length=255), nullable=True),
        sa.Column("source_id", sa.String(length=255), nullable=True),
        sa.Column("target_id", sa.String(length=255), nullable=True),
        sa.Column("error_causes", JSON_DOC, nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_events_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_events_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_events_deployment_id"), ["deployment_id"], unique=False
        )
        batch_op.create_index("ix_events_execution_seq", ["execution_id", "seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_tenant_pk"), ["tenant_pk"], unique=False)

    op.create_table(
        "node_instances",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("tenant_pk", sa.Integer(), nullable=False),
        sa.Column("deployment_pk", sa.Integer(), nullable=False),
        sa.Column("node_pk", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("runtime_properties", JSON_DOC, nullable=False),
        sa.Column("system_properties", JSON_DOC, nullable=False),
        sa.Column("relationships", JSON_DOC, nullable=False),
        sa.Column("scaling_groups", JSON_DOC, nullable=False),
        sa.Column("host_id", sa.String(length=255), nullable=True),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_pk"],
            ["deployments.pk"],
            name=op.f("fk_node_instances_deployment_pk_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_pk"],
            ["nodes.pk"],
            name=op.f("fk_node_instances_node_pk_nodes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_pk"],
            ["tenants.pk"],
            name=op.f("fk_node_instances_tenant_pk_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_node_instances")),
        sa.UniqueConstraint("tenant_pk", "id", name=op.f("uq_node_instances_tenant_pk_id")),
    )
    with op.batch_alter_table("node_instances", schema=None) as batch_op:
        batch_op.create_index(
            "ix_node_instances_deployment_node", ["deployment_pk", "node_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_node_instances_node_pk"), ["node_pk"], unique=False)

    op.create_table(
        "operations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("node_instance_id", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("retry_interval", sa.Double(), nullable=False),
        sa.Column("timeout", sa.Double(), nullable=True),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("waiting_on", sa.Integer(), nullable=False),
        sa.Column("dependents", JSON_DOC, nullable=False),
        sa.Column("parameters", JSON_DOC, nullable=False),
        sa.Column("result", JSON_DOC, nullable=True),
        sa.Column("error", JSON_DOC, nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_operations_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operations")),
    )
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_operations_execution_state", ["execution_id", "state"], unique=False
        )
        batch_op.create_index(
            "ix_operations_state_lease", ["state", "lease_expires_at"], unique=False
        )

    # The executions table and the tables it points to reference each other: these
    # foreign keys close the cycle once all of them exist.
    with op.batch_alter_table("blueprints") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_blueprints_upload_execution_id_executions"),
            "executions",
            ["upload_execution_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("deployments") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_deployments_create_execution_id_executions"),
            "executions",
            ["create_execution_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("deployments") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_deployments_latest_execution_id_executions"),
            "executions",
            ["latest_execution_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch_op:
        batch_op.drop_constraint(
            op.f("fk_deployments_latest_execution_id_executions"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            op.f("fk_deployments_create_execution_id_executions"), type_="foreignkey"
        )
    with op.batch_alter_table("blueprints") as batch_op:
        batch_op.drop_constraint(
            op.f("fk_blueprints_upload_execution_id_executions"), type_="foreignkey"
        )
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_index("ix_operations_state_lease")
        batch_op.drop_index("ix_operations_execution_state")

    op.drop_table("operations")
    with op.batch_alter_table("node_instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_instances_node_pk"))
        batch_op.drop_index("ix_node_instances_deployment_node")

    op.drop_table("node_instances")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_tenant_pk"))
        batch_op.drop_index("ix_events_execution_seq")
        batch_op.drop_index(batch_op.f("ix_events_deployment_id"))

    op.drop_table("events")
    op.drop_table("nodes")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_executions_token_hash"))
        batch_op.drop_index(batch_op.f("ix_executions_tenant_pk"))
        batch_op.drop_index("ix_executions_status")
        batch_op.drop_index("ix_executions_deployment_status")

    op.drop_table("executions")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_tenant_pk"))
        batch_op.drop_index(batch_op.f("ix_deployments_id"))
        batch_op.drop_index(batch_op.f("ix_deployments_blueprint_pk"))

    op.drop_table("deployments")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_user_pk"))

    op.drop_table("tokens")
    with op.batch_alter_table("tenant_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_memberships_tenant_pk"))

    op.drop_table("tenant_memberships")
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secrets_tenant_pk"))

    op.drop_table("secrets")
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plugins_tenant_pk"))

    op.drop_table("plugins")
    with op.batch_alter_table("blueprints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_blueprints_tenant_pk"))
        batch_op.drop_index(batch_op.f("ix_blueprints_id"))

    op.drop_table("blueprints")
    op.drop_table("users")
    op.drop_table("tenants")
    op.drop_table("service_leases")
