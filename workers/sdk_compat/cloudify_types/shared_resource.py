"""`cloudify.nodes.SharedResource`: a connection to a deployment that exists already, whose
capabilities are kept in the node instance's runtime property `capabilities`; and the
relationships that run a workflow on it (`*_shared_resource`).

The manager refuses to delete the shared deployment while a connected node is alive.
"""

from __future__ import annotations

from typing import Any

from cloudify_types import common

from quarterdeck import ctx, operation
from quarterdeck.exceptions import NonRecoverableError


def _deployment_id(inputs: dict[str, Any]) -> str:
    config = dict(common.setting("resource_config", inputs) or {})
    deployment_id = (config.get("deployment") or {}).get("id")
    if not deployment_id:
        raise NonRecoverableError("SharedResource: resource_config.deployment.id is empty")
    return str(deployment_id)


@operation(resumable=True)
def connect_deployment(**inputs: Any) -> bool:
    """create: the shared deployment must exist; its capabilities are read."""
    inputs.pop("ctx", None)
    rest = common.client(inputs)
    deployment_id = _deployment_id(inputs)
    ctx.logger.info(
        'Checking that the shared deployment "%s" exists in tenant "%s"',
        deployment_id,
        ctx.tenant_name,
    )
    if not common.deployment_exists(rest, deployment_id):
        raise NonRecoverableError(
            f'SharedResource\'s deployment ID "{deployment_id}" does not exist on tenant '
            f'"{ctx.tenant_name}", please verify the given ID.'
        )
    ctx.instance.runtime_properties["deployment"] = {"id": deployment_id}
    common.store_capabilities(rest, deployment_id)
    return True


@operation(resumable=True)
def disconnect_deployment(**inputs: Any) -> bool:
    """delete: forget the shared deployment (which stays as it is)."""
    inputs.pop("ctx", None)
    recorded = (ctx.instance.runtime_properties.get("deployment") or {}).get("id")
    ctx.logger.info('Disconnecting from the shared deployment "%s"', recorded)
    for key in ("deployment", "capabilities"):
        ctx.instance.runtime_properties.pop(key, None)
    return True


@operation(resumable=True)
def refresh(**inputs: Any) -> bool:
    inputs.pop("ctx", None)
    common.store_capabilities(common.client(inputs), _deployment_id(inputs))
    return True


@operation(resumable=True)
def check_status(**inputs: Any) -> bool:
    inputs.pop("ctx", None)
    deployment_id = _deployment_id(inputs)
    if not common.deployment_exists(common.client(inputs), deployment_id):
        raise NonRecoverableError(f'The shared deployment "{deployment_id}" does not exist')
    return True


@operation(resumable=True)
def check_drift(**inputs: Any) -> None:
    return None


@operation(resumable=True)
def execute_workflow(
    workflow_id: str,
    parameters: dict[str, Any] | None = None,
    timeout: float = common.EXECUTIONS_TIMEOUT,
    **inputs: Any,
) -> bool:
    """A relationship operation on the target side: run `workflow_id` on the shared
    deployment the target node connected to, and wait for it to end `terminated`."""
    inputs.pop("ctx", None)
    inputs.pop("redirect_logs", None)
    rest = common.client({}, ctx.target.node.properties.get("client") or {})
    config = ctx.target.node.properties.get("resource_config") or {}
    deployment_id = (config.get("deployment") or {}).get("id") or (
        ctx.target.instance.runtime_properties.get("deployment") or {}
    ).get("id")
    if not deployment_id:
        raise NonRecoverableError(
            f"The target node {ctx.target.node.id} names no shared deployment "
            "(resource_config.deployment.id)"
        )
    common.wait_until(
        f'the shared deployment "{deployment_id}" to finish its running executions',
        lambda: common.idle(rest, deployment_id),
        timeout,
        common.POLLING_INTERVAL,
    )
    ctx.logger.info('Starting %s on the shared deployment "%s"', workflow_id, deployment_id)
    execution = rest.executions.start(deployment_id, workflow_id, parameters=parameters or {})
    common.wait_for_execution(
        rest, execution["id"], deployment_id, timeout, common.POLLING_INTERVAL
    )
    return True
