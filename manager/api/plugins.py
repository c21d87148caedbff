"""Plugin routes: upload (the raw archive body `cfy` sends), list, get, delete, download the
archive (also what workers fetch to build a venv) or the YAML, and installation reports."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, UnitOfWorkDep, require
from manager.api.pagination import ListSpec, parse_bool, parse_list_query, run_list, visible_in_list
from manager.db import Plugin
from manager.errors import BadParameters
from manager.schemas.common import READ, ListRead
from manager.schemas.plugins import (
    FIELDS,
    PluginRead,
    PluginStateReport,
    PluginUploadParams,
    plugin_read,
)
from manager.services import plugins
from manager.uploads import read_body

router = APIRouter(prefix="/plugins", tags=["plugins"])


def _archive_content() -> dict[str, Any]:
    """A plugin archive's media types in the OpenAPI document (a new dict each time: FastAPI
    adds to the ones it is given)."""
    binary = {"type": "string", "format": "binary"}
    return {"application/octet-stream": {"schema": binary}, "application/zip": {"schema": binary}}


LIST_SPEC = ListSpec(
    columns={
        "id": Plugin.id,
        "package_name": Plugin.package_name,
        "package_version": Plugin.package_version,
        "package_source": Plugin.package_source,
        "archive_name": Plugin.archive_name,
        "distribution": Plugin.distribution,
        "distribution_release": Plugin.distribution_release,
        "distribution_version": Plugin.distribution_version,
        "supported_platform": Plugin.supported_platform,
        "title": Plugin.title,
        "visibility": Plugin.visibility,
        "uploaded_at": Plugin.created_at,
        "created_at": Plugin.created_at,
    },
    fields=FIELDS,
    default_sort=("uploaded_at",),
    tie_breaker=Plugin.pk,
    # `cfy plugins list --search X` looks for X in the package name.
    search_column=Plugin.package_name,
)


@router.get("", response_model=ListRead[PluginRead], **READ, dependencies=[require("plugin_list")])
def list_plugins(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    stmt = visible_in_list(plugins.listed(), Plugin, principal, query)
    return run_list(session, stmt, LIST_SPEC, query, plugin_read)


@router.post(
    "",
    status_code=201,
    response_model=PluginRead,
    **READ,
    # The route reads its body itself; this tells the document what it takes.
    openapi_extra={
        "requestBody": {
            "description": "A wagon, a wheel or an sdist, or `cfy`'s zip of a wagon and its "
            "YAML files (which `cfy` labels `application/json`)",
            "content": _archive_content(),
        }
    },
    dependencies=[require("plugin_upload")],
)
async def upload_plugin(
    request: Request, work: UnitOfWorkDep, settings: SettingsDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """The body is the archive whatever the Content-Type says: `cfy` labels its zip JSON."""
    query = dict(request.query_params)
    params = PluginUploadParams.parse(
        query, private_resource=parse_bool(query.get("private_resource"), "private_resource")
    )
    if params.plugin_archive_url:
        raise BadParameters(
            "Uploading a plugin from a URL is not supported: this manager has no outside "
            "network access; upload the wagon (or wheel, or sdist) itself"
        )
    # End the transaction authentication opened: on SQLite it holds the write lock, which
    # must not wait for a slow upload to arrive and be unpacked.
    await run_in_threadpool(work.session.rollback)
    data = await read_body(request, settings.max_upload_bytes)
    if not data:
        raise BadParameters("The upload has no body: send the plugin archive as the body")

    def store() -> dict[str, Any]:
        plugin = plugins.upload(
            work.session,
            principal,
            settings,
            data,
            visibility=params.visibility,
            title=params.title,
        )
        try:
            work.commit()
        except BaseException:
            plugins.discard_files(plugins.plugin_dir(settings, principal.tenant_name, plugin.id))
            raise
        return plugin_read(plugin)

    return await run_in_threadpool(store)


@router.get("/{plugin_id}", response_model=PluginRead, **READ, dependencies=[require("plugin_get")])
def get_plugin(plugin_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return plugin_read(plugins.get(session, principal, plugin_id))


# No permission of its own yet: reporting an installation is an author's action here.
@router.put(
    "/{plugin_id}", response_model=PluginRead, **READ, dependencies=[require("plugin_upload")]
)
async def report_state(
    plugin_id: str, request: Request, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """`plugins.set_state(...)`: a worker or agent reports installing (or failing to)."""
    try:
        report = PluginStateReport.model_validate(await _json_body(request))
    except ValidationError as exc:
        raise BadParameters(f"Invalid installation state report: {exc}") from None

    def record() -> dict[str, Any]:
        plugin = plugins.report_state(
            work.session,
            principal,
            plugin_id,
            state=report.state,
            manager=report.manager,
            agent=report.agent,
            error=report.error,
        )
        work.commit()
        return plugin_read(plugin)

    return await run_in_threadpool(record)


@router.delete("/{plugin_id}", status_code=204, dependencies=[require("plugin_delete")])
async def delete_plugin(
    plugin_id: str,
    request: Request,
    work: UnitOfWorkDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> Response:
    """`force` comes as the JSON body `{"force": true}` (what the client sends) or a query."""
    body = await _json_body(request)
    force = parse_bool(body.get("force", request.query_params.get("force")), "force")

    def remove() -> None:
        directory = plugins.delete_plugin(work.session, principal, settings, plugin_id, force=force)
        work.commit()
        plugins.discard_files(directory)

    await run_in_threadpool(remove)
    return Response(status_code=204)


@router.get(
    "/{plugin_id}/archive",
    responses={
        200: {
            "description": "The archive as uploaded, or with `full_archive` a zip of "
            "it, its YAML files and icon",
            "content": _archive_content(),
        }
    },
    dependencies=[require("plugin_download")],
)
def download_archive(
    plugin_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> Response:
    """The wagon (or wheel, or sdist) as uploaded; `full_archive=true` zips it with its YAML
    files and icon, as `cfy plugins download --full-archive` expects."""
    plugin = plugins.get(session, principal, plugin_id)
    path = plugins.archive_path(settings, plugin)
    if not parse_bool(request.query_params.get("full_archive"), "full_archive"):
        return FileResponse(path, media_type="application/octet-stream", filename=path.name)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(path.parent.iterdir()):
            archive.write(member, member.name)
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{plugin.id}.zip"'},
    )


@router.get(
    "/{plugin_id}/yaml",
    responses={
        200: {
            "description": "The plugin's YAML file",
            "content": {"application/x-yaml": {"schema": {"type": "string"}}},
        }
    },
    dependencies=[require("plugin_download")],
)
def download_yaml(
    plugin_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> Response:
    """The plugin's YAML: the variant for `dsl_version` (e.g. `1_4`) when there is one."""
    plugin = plugins.get(session, principal, plugin_id)
    version = plugins.parse_dsl_version(request.query_params.get("dsl_version"))
    path = plugins.yaml_path(settings, plugin, version)
    return FileResponse(path, media_type="application/x-yaml", filename=path.name)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await read_body(request, 1 << 20)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadParameters("The request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadParameters("The request body must be a JSON object")
    return body
