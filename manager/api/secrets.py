"""Secret routes: `cfy secrets create/get/update/delete/list/set-visibility`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Select

from manager.api.deps import CurrentPrincipal, SessionDep, SettingsDep, UnitOfWorkDep, require
from manager.api.pagination import (
    ListQuery,
    ListSpec,
    parse_list_query,
    run_list,
    visible_in_list,
)
from manager.db import Secret
from manager.schemas.common import READ, ListRead
from manager.schemas.secrets import (
    LIST_FIELDS,
    SecretCreate,
    SecretRead,
    SecretUpdate,
    SecretVisibility,
    secret_list_item,
    secret_read,
)
from manager.services import secrets
from manager.services.identity import Principal

router = APIRouter(prefix="/secrets", tags=["secrets"])

LIST_SPEC = ListSpec(
    columns={
        "key": Secret.key,
        "id": Secret.key,
        "created_at": Secret.created_at,
        "updated_at": Secret.updated_at,
        "visibility": Secret.visibility,
        "is_hidden_value": Secret.is_hidden_value,
        "provider_name": Secret.provider_name,
    },
    fields=LIST_FIELDS,
    default_sort=("key",),
    tie_breaker=Secret.pk,
    search_column=Secret.key,
)


@router.get("", response_model=ListRead[SecretRead], **READ, dependencies=[require("secret_list")])
def list_secrets(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    return run_list(session, list_statement(principal, query), LIST_SPEC, query, secret_list_item)


def list_statement(principal: Principal, query: ListQuery) -> Select[Any]:
    """The secrets a list shows (also `POST /searches/secrets`), before its filters."""
    return visible_in_list(secrets.listed(), Secret, principal, query)


@router.put("/{key}", response_model=SecretRead, **READ, dependencies=[require("secret_create")])
def create_secret(
    key: str,
    body: SecretCreate,
    work: UnitOfWorkDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """200, not 201: `cfy secrets create` expects 200."""
    secret = secrets.create(work.session, principal, settings.secret_key, key, body)
    work.commit()
    return secret_read(secret, secrets.readable_value(settings.secret_key, principal, secret))


@router.get("/{key}", response_model=SecretRead, **READ, dependencies=[require("secret_get")])
def get_secret(
    key: str, session: SessionDep, settings: SettingsDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    secret = secrets.get(session, principal, key)
    return secret_read(secret, secrets.readable_value(settings.secret_key, principal, secret))


@router.patch("/{key}", response_model=SecretRead, **READ, dependencies=[require("secret_update")])
def update_secret(
    key: str,
    body: SecretUpdate,
    work: UnitOfWorkDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    secret = secrets.update(work.session, principal, settings.secret_key, key, body)
    work.commit()
    return secret_read(secret, secrets.readable_value(settings.secret_key, principal, secret))


@router.patch(
    "/{key}/set-visibility",
    response_model=SecretRead,
    **READ,
    dependencies=[require("resource_set_visibility")],
)
def set_secret_visibility(
    key: str,
    body: SecretVisibility,
    work: UnitOfWorkDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    secret = secrets.update(
        work.session, principal, settings.secret_key, key, SecretUpdate(visibility=body.visibility)
    )
    work.commit()
    return secret_read(secret, secrets.readable_value(settings.secret_key, principal, secret))


@router.delete("/{key}", status_code=204, dependencies=[require("secret_delete")])
def delete_secret(key: str, work: UnitOfWorkDep, principal: CurrentPrincipal) -> Response:
    secrets.delete(work.session, principal, key)
    work.commit()
    return Response(status_code=204)
