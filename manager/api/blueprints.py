"""Blueprint routes: upload (multipart, legacy query string or plain YAML), read, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Select
from starlette.concurrency import run_in_threadpool

from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, UnitOfWorkDep, require
from manager.api.pagination import (
    ListQuery,
    ListSpec,
    parse_bool,
    parse_include,
    parse_list_query,
    project,
    run_list,
    visible_in_list,
)
from manager.db import Blueprint
from manager.errors import BadParameters
from manager.schemas.blueprints import FIELDS, BlueprintRead, BlueprintUploadParams, blueprint_read
from manager.schemas.common import READ, ListRead, VisibilityChange
from manager.schemas.groups import LabelsUpdate
from manager.services import blueprints, visibility
from manager.services.identity import Principal
from manager.uploads import read_body, read_form

router = APIRouter(prefix="/blueprints", tags=["blueprints"])

LIST_SPEC = ListSpec(
    columns={
        "id": Blueprint.id,
        "created_at": Blueprint.created_at,
        "updated_at": Blueprint.updated_at,
        "state": Blueprint.state,
        "visibility": Blueprint.visibility,
        "main_file_name": Blueprint.main_file_name,
        "is_hidden": Blueprint.is_hidden,
    },
    fields=FIELDS,
    tie_breaker=Blueprint.pk,
    search_column=Blueprint.id,
)

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


@router.get(
    "", response_model=ListRead[BlueprintRead], **READ, dependencies=[require("blueprint_list")]
)
def list_blueprints(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    return run_list(session, list_statement(principal, query), LIST_SPEC, query, blueprint_read)


def list_statement(principal: Principal, query: ListQuery) -> Select[Any]:
    """The blueprints a list shows (also `POST /searches/blueprints`), before its filters."""
    return visible_in_list(
        blueprints.listed(),
        Blueprint,
        principal,
        query,
    )


@router.get(
    "/{blueprint_id}", response_model=BlueprintRead, **READ, dependencies=[require("blueprint_get")]
)
def get_blueprint(
    blueprint_id: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    include = parse_include(request, FIELDS)
    return project(blueprint_read(blueprints.get(session, principal, blueprint_id)), include)


@router.put(
    "/{blueprint_id}",
    status_code=201,
    response_model=BlueprintRead,
    **READ,
    # The route reads its body itself (three forms); this tells the document about them.
    openapi_extra={
        "requestBody": {
            "description": "A blueprint: a plain YAML document, an archive (tar.gz, zip, ...) "
            "with its options in the query string, or `cfy`'s multipart form "
            "(`params` as JSON and `blueprint_archive`)",
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "params": {"type": "string"},
                            "blueprint_archive": {"type": "string", "format": "binary"},
                        },
                    }
                },
            },
        }
    },
    dependencies=[require("blueprint_upload")],
)
async def upload_blueprint(
    blueprint_id: str,
    request: Request,
    work: UnitOfWorkDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Accepts `cfy`'s multipart body (`params` + `blueprint_archive`), the legacy form with
    params in the query string and the archive as the body, or a plain YAML document."""
    source = await _read_upload(request, settings.max_upload_bytes)

    def store() -> dict[str, Any]:
        blueprint = blueprints.upload(work.session, principal, settings, blueprint_id, source)
        work.commit()
        return blueprint_read(blueprint)

    return await run_in_threadpool(store)


async def _read_upload(request: Request, limit: int) -> blueprints.Upload:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await read_form(request, limit)
        params = BlueprintUploadParams.parse(form.get("params"))  # type: ignore[arg-type]
        part = form.get("blueprint_archive")
        data = await part.read() if part is not None and not isinstance(part, str) else None
    else:
        params = BlueprintUploadParams.parse(
            {k: v for k, v in request.query_params.items() if k != "labels"}
        )
        data = await read_body(request, limit)
    if params.blueprint_archive_url:
        raise BadParameters(
            "Uploading a blueprint from a URL is not supported: this manager "
            "has no outside network access; upload the archive itself"
        )
    if not data:
        raise BadParameters(
            "The upload has no blueprint archive (form field `blueprint_archive`) and no YAML body"
        )
    source = blueprints.Upload(
        application_file_name=params.application_file_name,
        visibility=params.visibility,
        labels=params.labels,
    )
    if content_type in YAML_TYPES or blueprints.archives.detect_format(data) is None:
        source.yaml_text = data
    else:
        source.archive = data
    return source


@router.patch(
    "/{blueprint_id}",
    response_model=BlueprintRead,
    **READ,
    dependencies=[require("blueprint_update")],
)
def update_blueprint_labels(
    blueprint_id: str, body: LabelsUpdate, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    body.refuse_others("blueprint")
    blueprint = blueprints.set_labels(work.session, principal, blueprint_id, body.labels)
    work.commit()
    return blueprint_read(blueprint)


@router.delete("/{blueprint_id}", status_code=204, dependencies=[require("blueprint_delete")])
def delete_blueprint(
    blueprint_id: str,
    request: Request,
    work: UnitOfWorkDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> Response:
    force = parse_bool(request.query_params.get("force"), "force")
    blueprints.delete_blueprint(work.session, principal, settings, blueprint_id, force=force)
    work.commit()
    return Response(status_code=204)


@router.get(
    "/{blueprint_id}/archive",
    responses={
        200: {
            "description": "The blueprint archive (tar.gz)",
            "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    dependencies=[require("blueprint_download")],
)
def download_archive(
    blueprint_id: str, session: SessionDep, settings: SettingsDep, principal: CurrentPrincipal
) -> Response:
    blueprint = blueprints.get(session, principal, blueprint_id)
    data = blueprints.archive(settings, blueprint)
    return Response(
        data,
        media_type="application/gzip",
        headers={"Content-Disposition": f"attachment; filename={blueprint.id}.tar.gz"},
    )


@router.patch(
    "/{blueprint_id}/set-visibility",
    response_model=BlueprintRead,
    **READ,
    dependencies=[require("resource_set_visibility")],
)
def set_blueprint_visibility(
    blueprint_id: str, body: VisibilityChange, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    blueprint = blueprints.get(work.session, principal, blueprint_id)
    visibility.widen(work.session, principal, blueprint, body.visibility)
    work.commit()
    return blueprint_read(blueprint)
