"""What the built-in types share: settings from properties and inputs, the REST client,
uploading a blueprint, waiting for executions, and reading capabilities."""

from __future__ import annotations

import io
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloudify.manager import get_rest_client

from quarterdeck import ctx
from quarterdeck.exceptions import NonRecoverableError

# Cloudify's defaults for components: wait up to half an hour, look every second.
EXECUTIONS_TIMEOUT = 1800
POLLING_INTERVAL = 1.0
END_STATES = ("terminated", "failed", "cancelled")
ACTIVE_STATES = ("pending", "started", "cancelling", "force_cancelling", "kill_cancelling")
UPLOAD_FAILED_STATES = ("failed_uploading", "failed_extracting", "failed_parsing", "invalid")


def setting(name: str, inputs: dict[str, Any], default: Any = None) -> Any:
    """An operation input, else the node property of the same name (Cloudify's order)."""
    if inputs.get(name) is not None:
        return inputs[name]
    value = ctx.node.properties.get(name)
    return default if value is None else value


def client(inputs: dict[str, Any], remote: dict[str, Any] | None = None) -> Any:
    """The REST client of this manager; a remote manager (the `client` property, or
    `remote` when given) is refused."""
    remote = (setting("client", inputs) if remote is None else remote) or {}
    if remote.get("host"):
        raise NonRecoverableError(
            "Components and shared resources on another manager (the `client` property) "
            "are not supported: leave `client` empty to use this manager"
        )
    return get_rest_client()


def is_url(location: str) -> bool:
    return "://" in location


def exists(listing: Callable[..., Any], resource_id: str) -> bool:
    return bool(listing(id=resource_id, _include=["id"]))


def wait_until(what: str, check: Callable[[], bool], timeout: float, interval: float) -> None:
    """Poll `check` until it is true; a NonRecoverableError naming `what` after `timeout`."""
    deadline = time.monotonic() + float(timeout)
    while not check():
        if time.monotonic() > deadline:
            raise NonRecoverableError(f"Timed out after {timeout} seconds waiting for {what}")
        time.sleep(float(interval))


def archive_file(blueprint_archive: str, main_file_name: str, directory: Path) -> Path:
    """The child blueprint as a local archive: a zip or tar from the parent's blueprint is
    used as it is; a single YAML file is packed into a tar.gz as `main_file_name`."""
    content = ctx.get_resource(blueprint_archive)
    name = Path(blueprint_archive).name or "blueprint"
    target = directory / name
    if zipfile.is_zipfile(io.BytesIO(content)) or _is_tar(content):
        target.write_bytes(content)
        return target
    target = directory / "blueprint.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        info = tarfile.TarInfo(f"blueprint/{main_file_name}")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return target


def _is_tar(content: bytes) -> bool:
    try:
        with tarfile.open(fileobj=io.BytesIO(content)) as tar:
            tar.getmembers()
    except (tarfile.TarError, EOFError, OSError):
        return False
    return True


def upload_blueprint(rest: Any, blueprint: dict[str, Any], timeout: float) -> str:
    """Make sure the child blueprint exists: use an existing one, else upload it from
    `blueprint_archive` (a URL, or a path inside the parent blueprint). Returns its id."""
    blueprint_id = blueprint.get("id") or ctx.instance.id
    archive = blueprint.get("blueprint_archive")
    main_file = blueprint.get("main_file_name") or "blueprint.yaml"
    labels = blueprint.get("labels") or []
    ctx.instance.runtime_properties["blueprint"] = {
        "id": blueprint_id,
        "blueprint_archive": archive,
        "application_file_name": main_file,
        "labels": labels,
    }
    found = exists(rest.blueprints.list, blueprint_id)
    if blueprint.get("external_resource"):
        if not found:
            raise NonRecoverableError(
                f'Blueprint ID "{blueprint_id}" does not exist on tenant "{ctx.tenant_name}", '
                "but external_resource is true"
            )
        ctx.logger.info('Using the existing blueprint "%s"', blueprint_id)
        return blueprint_id
    if found:
        ctx.logger.info('Blueprint "%s" exists already: using it', blueprint_id)
        return blueprint_id
    if not archive:
        raise NonRecoverableError(
            f'Blueprint "{blueprint_id}" does not exist and no blueprint_archive is given'
        )
    ctx.logger.info('Uploading blueprint "%s" from %s', blueprint_id, archive)
    with tempfile.TemporaryDirectory(prefix="component-") as scratch:
        location = (
            archive if is_url(archive) else str(archive_file(archive, main_file, Path(scratch)))
        )
        rest.blueprints._upload(
            blueprint_id=blueprint_id,
            archive_location=location,
            application_file_name=main_file,
            labels=labels or None,
            async_upload=True,
        )
    state: dict[str, Any] = {}

    def uploaded() -> bool:
        state.update(rest.blueprints.get(blueprint_id))
        if state.get("state") in UPLOAD_FAILED_STATES:
            raise NonRecoverableError(
                f'Uploading blueprint "{blueprint_id}" failed: {state.get("error")}'
            )
        return state.get("state") == "uploaded"

    wait_until(f'blueprint "{blueprint_id}" to be uploaded', uploaded, timeout, POLLING_INTERVAL)
    return blueprint_id


def wait_for_execution(
    rest: Any, execution_id: str, deployment_id: str, timeout: float, interval: float
) -> dict[str, Any]:
    """Wait for an execution of another deployment to end; a NonRecoverableError unless it
    ended `terminated`."""
    execution: dict[str, Any] = {}

    def ended() -> bool:
        execution.update(rest.executions.get(execution_id))
        return execution.get("status") in END_STATES

    wait_until(
        f'execution {execution_id} of deployment "{deployment_id}"', ended, timeout, interval
    )
    if execution.get("status") != "terminated":
        raise NonRecoverableError(
            f"Execution {execution_id} ({execution.get('workflow_id')}) of deployment "
            f'"{deployment_id}" ended {execution.get("status")}: {execution.get("error")}'
        )
    return execution


def idle(rest: Any, deployment_id: str) -> bool:
    """Has the deployment no execution running or waiting?"""
    running = rest.executions.list(
        deployment_id=deployment_id, status=list(ACTIVE_STATES) + ["queued"], _include=["id"]
    )
    return not list(running)


def store_capabilities(rest: Any, deployment_id: str) -> None:
    """The deployment's capabilities, in the runtime property `capabilities`."""
    response = rest.deployments.capabilities.get(deployment_id)
    ctx.instance.runtime_properties["capabilities"] = response.get("capabilities") or {}
    ctx.logger.info(
        'Capabilities of deployment "%s": %s',
        deployment_id,
        ", ".join(sorted(ctx.instance.runtime_properties["capabilities"])) or "none",
    )


def deployment_exists(rest: Any, deployment_id: str) -> bool:
    return exists(rest.deployments.list, deployment_id)
