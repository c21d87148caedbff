"""The roles, the permission table (permission -> roles) and the one check that applies it.

Tenant roles come from a user's membership in the tenant named by the `Tenant` header;
`sys_admin` is a system role that passes every check in every tenant. The names and the
role sets follow Cloudify Manager 7's default authorization table, so a Cloudify operator
finds the same behaviour (e.g. `operations` may deploy and execute but not upload).

Routes declare their permission with `Depends(require("name"))` (manager.api.deps);
tests/api/test_permissions.py holds the expected matrix for every route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from manager.errors import Forbidden

if TYPE_CHECKING:
    from manager.services.identity import Principal

SYS_ADMIN = "sys_admin"
TENANT_ROLES = ("manager", "operations", "user", "viewer")
ROLES = (SYS_ADMIN, *TENANT_ROLES)

_ALL = frozenset(ROLES)
# Deploy and run workflows.
_OPERATE = frozenset({SYS_ADMIN, "manager", "user", "operations"})
# Author content: blueprints, plugins, secrets.
_AUTHOR = frozenset({SYS_ADMIN, "manager", "user"})
_ADMIN = frozenset({SYS_ADMIN})

PERMISSIONS: dict[str, frozenset[str]] = {
    # manager-level reads
    "status_get": _ALL,
    "workers_list": _ALL,
    "maintenance_mode_get": _ALL,
    "provider_context_get": _ALL,
    "manager_get": _ALL,
    "broker_get": _ALL,
    "db_nodes_get": _ALL,
    "cluster_status_get": _ALL,
    "license_check": _ALL,
    "manager_config_get": _ALL,
    "manager_config_put": frozenset({SYS_ADMIN, "manager"}),
    "maintenance_mode_set": _ADMIN,
    # blueprints
    "blueprint_list": _ALL,
    "blueprint_get": _ALL,
    "blueprint_download": _ALL,
    "blueprint_upload": _AUTHOR,
    "blueprint_update": _AUTHOR,
    "blueprint_delete": _AUTHOR,
    # deployments, nodes, node instances
    "deployment_list": _ALL,
    "deployment_get": _ALL,
    "deployment_capabilities": _ALL,
    "deployment_create": _OPERATE,
    "deployment_update": _OPERATE,
    "deployment_delete": _OPERATE,
    "deployment_update_list": _ALL,
    "deployment_update_get": _ALL,
    "deployment_update_create": _OPERATE,
    "node_list": _ALL,
    "node_update": _OPERATE,
    "node_instance_list": _ALL,
    "node_instance_get": _ALL,
    "node_instance_update": _OPERATE,
    # executions, their operations, events
    "execution_list": _ALL,
    "execution_get": _ALL,
    "execution_start": _OPERATE,
    "execution_cancel": _OPERATE,
    "execution_status_update": _OPERATE,
    "execution_delete": _AUTHOR,
    "operation_get": _ALL,
    "operation_list": _ALL,
    "operation_update": _OPERATE,
    "functions_evaluate": _OPERATE,
    # deployment groups, execution groups, label listings
    "deployment_group_list": _ALL,
    "deployment_group_get": _ALL,
    "deployment_group_create": _OPERATE,
    "deployment_group_update": _OPERATE,
    "deployment_group_delete": _OPERATE,
    "execution_group_list": _ALL,
    "execution_group_get": _ALL,
    "execution_group_create": _OPERATE,
    "execution_group_cancel": _OPERATE,
    "execution_group_update": _OPERATE,
    "labels_list": _ALL,
    "event_list": _ALL,
    "event_create": _OPERATE,
    "event_delete": _OPERATE,
    "file_server_auth": _ALL,
    # plugins
    "plugin_list": _ALL,
    "plugin_get": _ALL,
    "plugin_download": _ALL,
    "plugin_upload": _AUTHOR,
    "plugin_delete": _AUTHOR,
    # secrets
    "secret_list": _ALL,
    "secret_get": _ALL,
    "secret_create": _AUTHOR,
    "secret_update": _AUTHOR,
    "secret_delete": _AUTHOR,
    # visibility
    "resource_set_visibility": _AUTHOR,
    "create_global_resource": _ADMIN,
    # tenants (tenant_get is checked in the header's tenant and again in the named one)
    "tenant_list": _ALL,
    "tenant_get": frozenset({SYS_ADMIN, "manager", "user", "operations"}),
    "tenant_create": _ADMIN,
    "tenant_delete": _ADMIN,
    "tenant_add_user": _ADMIN,
    "tenant_update_user": _ADMIN,
    "tenant_remove_user": _ADMIN,
    # users
    "user_get_self": _ALL,
    "user_list": _ADMIN,
    "user_get": _ADMIN,
    "user_create": _ADMIN,
    "user_update": _ADMIN,
    "user_delete": _ADMIN,
    "user_set_activated": _ADMIN,
    # API tokens: every user manages their own
    "token_list": _ALL,
    "token_get": _ALL,
    "token_create": _ALL,
    "token_delete": _ALL,
}

# Permissions about the caller rather than a tenant's resources: a user may use them while
# the `Tenant` header names a tenant they are not a member of (which must still exist).
TENANTLESS = frozenset(
    {"user_get_self", "tenant_list", "token_list", "token_get", "token_create", "token_delete"}
)

# An `Execution-Token` acts as the execution's creator, with the creator's role, in the
# execution's tenant only (as Cloudify's execution tokens do), and dies with the execution.
# It is refused what reaches beyond that tenant or would outlive the execution: API tokens
# (a token minted with it would live on), the list of one's tenants, and the system
# administrator's permissions over users, tenants, maintenance mode and global resources.
EXECUTION_TOKEN_REFUSED = frozenset(
    {
        "token_list",
        "token_get",
        "token_create",
        "token_delete",
        "tenant_list",
        *(name for name, roles in PERMISSIONS.items() if roles == _ADMIN),
    }
)


def check_known(permission: str) -> str:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission `{permission}`; add it to manager.permissions")
    return permission


def is_allowed(principal: Principal, permission: str) -> bool:
    if principal.scope is not None and permission in EXECUTION_TOKEN_REFUSED:
        return False
    if principal.is_admin:
        return True
    if principal.role is None:
        return permission in TENANTLESS
    return principal.role in PERMISSIONS[permission]


def authorize(principal: Principal, permission: str) -> None:
    """Raise 403 unless the principal holds `permission` in its current tenant."""
    if is_allowed(principal, permission):
        return
    if principal.scope is not None and permission in EXECUTION_TOKEN_REFUSED:
        raise Forbidden(f"An execution token is not permitted to perform `{permission}`")
    check_member(principal)
    through = (
        f" (through the execution token of execution `{principal.scope.execution_id}`)"
        if principal.scope is not None
        else ""
    )
    raise Forbidden(
        f"User `{principal.username}` with role `{principal.role}` is not permitted to "
        f"perform `{permission}` in tenant `{principal.tenant_name}`{through}"
    )


def check_member(principal: Principal) -> None:
    """Raise 403 unless the principal has a role in its current tenant."""
    if principal.role is None:
        raise Forbidden(
            f"Authorization failed: User `{principal.username}` is not a member of tenant "
            f"`{principal.tenant_name}`"
        )
