"""`cloudify.nodes.Component` (and `ServiceComponent`): a deployment of another blueprint,
created, installed, uninstalled and deleted with the node, its capabilities kept in the
node instance's runtime property `capabilities`.

The child deployment is labelled `csys-obj-parent: <parent deployment>`, and the manager
refuses to delete it while the component node that made it is alive.
"""

from __future__ import annotations

from typing import Any

from cloudify_rest_client.exceptions import CloudifyClientError
from cloudify_types import common

from quarterdeck import ctx, operation
from quarterdeck.exceptions import NonRecoverableError

PARENT_LABEL = "csys-obj-parent"
# The child execution an `execute_start` started, kept (and saved at once) so that the same
# operation run again after a lost worker waits for it instead of starting another.
STARTED_KEY = "_component_execution"


def _config(inputs: dict[str, Any]) -> dict[str, Any]:
    return dict(common.setting("resource_config", inputs) or {})


def _blueprint_id(config: dict[str, Any]) -> str:
    return (config.get("blueprint") or {}).get("id") or ctx.instance.id


def _deployment_id(config: dict[str, Any]) -> str:
    recorded = (ctx.instance.runtime_properties.get("deployment") or {}).get("id")
    return recorded or (config.get("deployment") or {}).get("id") or ctx.instance.id


@operation(resumable=True)
def upload_blueprint(**inputs: Any) -> bool:
    """create: the child blueprint exists, uploaded if need be."""
    inputs.pop("ctx", None)
    rest = common.client(inputs)
    config = _config(inputs)
    timeout = inputs.get("timeout") or common.EXECUTIONS_TIMEOUT
    common.upload_blueprint(rest, dict(config.get("blueprint") or {}), timeout)
    return True


def _create_secrets(rest: Any, secrets: dict[str, Any]) -> None:
    """The `secrets` property: secrets created before the child deployment (never logged)."""
    existing = {secret.key for secret in rest.secrets.list(_include=["key"])}
    clash = sorted(set(secrets) & existing)
    if clash:
        raise NonRecoverableError(f"The secrets {', '.join(clash)} already exist")
    for key, value in secrets.items():
        rest.secrets.create(key=key, value=str(value))
        ctx.logger.info("Created secret %s", key)


@operation(resumable=True)
def create(
    timeout: float = common.EXECUTIONS_TIMEOUT,
    interval: float = common.POLLING_INTERVAL,
    **inputs: Any,
) -> bool:
    """configure: create the child deployment (with the parent label) and wait for it."""
    inputs.pop("ctx", None)
    rest = common.client(inputs)
    if common.setting("plugins", inputs):
        raise NonRecoverableError(
            "Uploading plugins from a Component (the `plugins` property) is not supported: "
            "upload them with `cfy plugins upload` first"
        )
    config = _config(inputs)
    deployment = dict(config.get("deployment") or {})
    deployment_id = _deployment_id(config)
    blueprint_id = _blueprint_id(config)
    if deployment.get("external_resource"):
        if not common.deployment_exists(rest, deployment_id):
            raise NonRecoverableError(
                f'Deployment "{deployment_id}" does not exist, but external_resource is true'
            )
        ctx.instance.runtime_properties["deployment"] = {"id": deployment_id}
        return True
    secrets = common.setting("secrets", inputs) or {}
    if secrets and not ctx.instance.runtime_properties.get("secrets_created"):
        _create_secrets(rest, secrets)
        ctx.instance.runtime_properties["secrets_created"] = sorted(secrets)
    labels = [dict(label) for label in deployment.get("labels") or []]
    labels = [label for label in labels if PARENT_LABEL not in label]
    labels.append({PARENT_LABEL: ctx.deployment.id})
    # Recorded (and saved) before the deployment exists: a retry finds it again.
    ctx.instance.runtime_properties["deployment"] = {"id": deployment_id}
    ctx.instance.update()
    if not common.deployment_exists(rest, deployment_id):
        ctx.logger.info('Creating the component deployment "%s"', deployment_id)
        rest.deployments.create(
            blueprint_id,
            deployment_id,
            inputs=deployment.get("inputs") or {},
            labels=labels,
            async_create=True,
        )
    created = rest.deployments.get(deployment_id, _include=["id", "create_execution"])
    execution_id = created.get("create_execution")
    if execution_id:
        common.wait_for_execution(rest, execution_id, deployment_id, timeout, interval)
    return True


@operation(resumable=True)
def execute_start(
    workflow_id: str = "install",
    timeout: float = common.EXECUTIONS_TIMEOUT,
    interval: float = common.POLLING_INTERVAL,
    **inputs: Any,
) -> bool:
    """start (install) and stop (uninstall): run the workflow on the child deployment, wait
    for it to end `terminated`, and store the child's capabilities."""
    inputs.pop("ctx", None)
    rest = common.client(inputs)
    config = _config(inputs)
    deployment_id = _deployment_id(config)
    props = ctx.instance.runtime_properties
    started = props.get(STARTED_KEY) or {}
    if started.get("by") == ctx.execution_id and started.get("workflow") == workflow_id:
        # This operation ran before (its worker was lost): wait for what it started.
        execution_id = started["id"]
    else:
        common.wait_until(
            f'deployment "{deployment_id}" to finish its running executions',
            lambda: common.idle(rest, deployment_id),
            timeout,
            interval,
        )
        arguments = dict(config.get("executions_start_args") or {})
        if workflow_id == ctx.workflow_id and "parameters" not in arguments:
            arguments["parameters"] = ctx.workflow_parameters
        ctx.logger.info('Starting %s on the component deployment "%s"', workflow_id, deployment_id)
        execution_id = rest.executions.start(deployment_id, workflow_id, **arguments)["id"]
        props[STARTED_KEY] = {"by": ctx.execution_id, "workflow": workflow_id, "id": execution_id}
        ctx.instance.update()
    common.wait_for_execution(rest, execution_id, deployment_id, timeout, interval)
    props.pop(STARTED_KEY, None)
    ctx.logger.info('%s of deployment "%s" ended', workflow_id, deployment_id)
    common.store_capabilities(rest, deployment_id)
    return True


@operation(resumable=True)
def delete(timeout: float = common.EXECUTIONS_TIMEOUT, **inputs: Any) -> bool:
    """delete: delete the child deployment, then its blueprint unless it was external."""
    inputs.pop("ctx", None)
    rest = common.client(inputs)
    config = _config(inputs)
    deployment_id = _deployment_id(config)
    blueprint = dict(config.get("blueprint") or {})
    external = (config.get("deployment") or {}).get("external_resource")
    if common.deployment_exists(rest, deployment_id) and not external:
        common.wait_until(
            f'deployment "{deployment_id}" to finish its running executions',
            lambda: common.idle(rest, deployment_id),
            timeout,
            common.POLLING_INTERVAL,
        )
        ctx.logger.info('Deleting the component deployment "%s"', deployment_id)
        rest.deployments.delete(deployment_id)
        common.wait_until(
            f'deployment "{deployment_id}" to be deleted',
            lambda: not common.deployment_exists(rest, deployment_id),
            timeout,
            common.POLLING_INTERVAL,
        )
    elif not external:
        ctx.logger.warning('The component deployment "%s" is gone already', deployment_id)
    if not blueprint.get("external_resource"):
        blueprint_id = _blueprint_id(config)
        try:
            rest.blueprints.delete(blueprint_id)
            ctx.logger.info('Deleted the component blueprint "%s"', blueprint_id)
        except CloudifyClientError as exc:
            # Used by another deployment, or gone already: keep going.
            ctx.logger.warning('Blueprint "%s" was not deleted: %s', blueprint_id, exc)
    for secret in ctx.instance.runtime_properties.get("secrets_created") or []:
        try:
            rest.secrets.delete(secret)
        except CloudifyClientError as exc:
            ctx.logger.warning("Secret %s was not deleted: %s", secret, exc)
    for key in ("deployment", "blueprint", "capabilities", "secrets_created"):
        ctx.instance.runtime_properties.pop(key, None)
    return True


@operation(resumable=True)
def refresh(**inputs: Any) -> bool:
    """Read the child's capabilities again."""
    inputs.pop("ctx", None)
    rest = common.client(inputs)
    common.store_capabilities(rest, _deployment_id(_config(inputs)))
    return True


@operation(resumable=True)
def check_status(**inputs: Any) -> bool:
    """The child deployment exists and its last execution did not fail."""
    inputs.pop("ctx", None)
    rest = common.client(inputs)
    deployment_id = _deployment_id(_config(inputs))
    found = rest.deployments.get(deployment_id, _include=["id", "latest_execution_status"])
    status = found.get("latest_execution_status")
    if status in ("failed", "cancelled"):
        raise NonRecoverableError(f'The last execution of deployment "{deployment_id}" {status}')
    return True


@operation(resumable=True)
def check_drift(**inputs: Any) -> None:
    """Drift of a component is not detected: no drift is reported."""
    return None


def _unsupported(operation: str) -> Any:
    def run(**inputs: Any) -> None:
        raise NonRecoverableError(f"cloudify.nodes.Component: {operation} is not supported")

    run.__name__ = operation
    return run


heal = _unsupported("heal")
update = _unsupported("update")
