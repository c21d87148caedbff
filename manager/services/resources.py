"""The file server operation code downloads from (`ctx.download_resource`, plugin-dispatch.md
§7): a blueprint's files as uploaded, and a deployment's own files.

Paths come from the request, so each is resolved and must stay inside its root; a
directory is answered with its index (`ctx.download_directory`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from manager.errors import NotFound
from manager.services import blueprints, deployments
from manager.services.identity import Principal
from manager.settings import Settings


def deployment_dir(settings: Settings, tenant: str, deployment_id: str) -> Path:
    """Files of one deployment (Cloudify's deployment workdir); none are written yet."""
    return settings.files_dir / "deployments" / tenant / deployment_id


def blueprint_file(
    session: Session,
    settings: Settings,
    principal: Principal,
    tenant_name: str,
    blueprint_id: str,
    path: str,
) -> Path:
    """A file (or directory) of a blueprint the caller can see; a global blueprint is found
    under its own tenant's name, as the client asks for it."""
    blueprint = blueprints.get(session, principal, blueprint_id)
    if blueprint.tenant.name != tenant_name:
        raise NotFound.of("Blueprint", blueprint_id)
    root = blueprints.blueprint_dir(settings, tenant_name, blueprint.id)
    return _inside(root, path, f"blueprint `{blueprint_id}`")


def deployment_file(
    session: Session,
    settings: Settings,
    principal: Principal,
    tenant_name: str,
    deployment_id: str,
    path: str,
) -> Path:
    deployment = deployments.get(session, principal, deployment_id)
    if deployment.tenant.name != tenant_name:
        raise NotFound.of("Deployment", deployment_id)
    root = deployment_dir(settings, tenant_name, deployment.id)
    return _inside(root, path, f"deployment `{deployment_id}`")


def _inside(root: Path, path: str, owner: str) -> Path:
    root = root.resolve()
    candidate = (root / path).resolve()
    if not candidate.is_relative_to(root) or not candidate.exists():
        raise NotFound(f"Resource `{path}` was not found in {owner}")
    return candidate


def directory_index(directory: Path) -> dict[str, dict[str, int]]:
    """Every file under `directory`, keyed by its path relative to it."""
    return {
        file.relative_to(directory).as_posix(): {"size": file.stat().st_size}
        for file in sorted(directory.rglob("*"))
        if file.is_file()
    }
