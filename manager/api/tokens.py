"""API token routes: `cfy tokens create/list/get/delete`; each user manages their own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from manager.api.deps import CurrentCaller, SessionDep, UnitOfWorkDep, require
from manager.api.pagination import ListSpec, parse_list_query, run_list
from manager.db import Token
from manager.schemas.common import READ, ListRead
from manager.schemas.tokens import FIELDS, TokenCreate, TokenRead, token_read
from manager.services import tokens

router = APIRouter(prefix="/tokens", tags=["tokens"])

LIST_SPEC = ListSpec(
    columns={
        "id": Token.id,
        "created_at": Token.created_at,
        "expiration_date": Token.expires_at,
        "last_used": Token.last_used_at,
        "description": Token.description,
        "username": tokens.owner_name(),
    },
    fields=FIELDS,
    default_sort=("created_at",),
    tie_breaker=Token.pk,
    search_column=Token.description,
)


@router.post("", response_model=TokenRead, **READ, dependencies=[require("token_create")])
def create_token(body: TokenCreate, work: UnitOfWorkDep, caller: CurrentCaller) -> dict[str, Any]:
    """200 with the value: the only time it is ever shown (only a hash is stored)."""
    token, value = tokens.create(
        work.session, caller.user_pk, body.description, body.expiration_date
    )
    work.commit()
    return token_read(token, value)


@router.get("", response_model=ListRead[TokenRead], **READ, dependencies=[require("token_list")])
def list_tokens(request: Request, session: SessionDep, caller: CurrentCaller) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    return run_list(session, tokens.visible_tokens(caller), LIST_SPEC, query, token_read)


@router.get("/{token_id}", response_model=TokenRead, **READ, dependencies=[require("token_get")])
def get_token(token_id: str, session: SessionDep, caller: CurrentCaller) -> dict[str, Any]:
    return token_read(tokens.get(session, caller, token_id))


@router.delete("/{token_id}", status_code=204, dependencies=[require("token_delete")])
def delete_token(token_id: str, work: UnitOfWorkDep, caller: CurrentCaller) -> Response:
    """Revokes the token at once: the next request that sends it gets 401."""
    tokens.delete(work.session, caller, token_id)
    work.commit()
    return Response(status_code=204)
