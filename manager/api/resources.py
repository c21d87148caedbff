"""The file server under `/resources` (outside `/api/v3.1`, as in Cloudify), which
`ctx.download_resource` tries in order: the deployment's files, then the blueprint's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, JSONResponse

from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, require
from manager.services import resources

router = APIRouter(prefix="/resources", tags=["resources"])

# A file, or a directory's index (for `ctx.download_directory`).
FILE_OR_INDEX: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, or a directory's index as JSON",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@router.get(
    "/blueprints/{tenant_name}/{blueprint_id}/{path:path}",
    responses=FILE_OR_INDEX,
    dependencies=[require("file_server_auth")],
)
def blueprint_resource(
    tenant_name: str,
    blueprint_id: str,
    path: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> Response:
    found = resources.blueprint_file(session, settings, principal, tenant_name, blueprint_id, path)
    return _serve(found)


@router.get(
    "/deployments/{tenant_name}/{deployment_id}/{path:path}",
    responses=FILE_OR_INDEX,
    dependencies=[require("file_server_auth")],
)
def deployment_resource(
    tenant_name: str,
    deployment_id: str,
    path: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> Response:
    found = resources.deployment_file(
        session, settings, principal, tenant_name, deployment_id, path
    )
    return _serve(found)


def _serve(found: Path) -> Response:
    if found.is_dir():
        return JSONResponse(resources.directory_index(found))
    return FileResponse(found, media_type="application/octet-stream")
