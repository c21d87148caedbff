"""The database: SQLAlchemy 2 models, engine and sessions."""

from manager.db.base import Base
from manager.db.blueprints import Blueprint
from manager.db.deployments import Deployment, Node, NodeInstance
from manager.db.executions import Event, Execution, Operation, ServiceLease
from manager.db.groups import DeploymentGroup, ExecutionGroup
from manager.db.identity import LoginFailure, Tenant, TenantMembership, Token, User
from manager.db.plugins import Plugin
from manager.db.secrets import Secret
from manager.db.updates import DeploymentUpdate

__all__ = [
    "Base",
    "Blueprint",
    "Deployment",
    "DeploymentGroup",
    "DeploymentUpdate",
    "Event",
    "Execution",
    "ExecutionGroup",
    "LoginFailure",
    "Node",
    "NodeInstance",
    "Operation",
    "Plugin",
    "Secret",
    "ServiceLease",
    "Tenant",
    "TenantMembership",
    "Token",
    "User",
]
