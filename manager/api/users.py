"""User routes: `cfy users` (system administrators) and `GET /user` (anyone, about themselves)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from manager.api.deps import CurrentCaller, CurrentPrincipal, SessionDep, UnitOfWorkDep, require
from manager.api.pagination import ListSpec, parse_bool, parse_list_query, run_list
from manager.db import User
from manager.schemas.common import READ, ListRead
from manager.schemas.users import (
    FIELDS,
    UserActivation,
    UserCreate,
    UserRead,
    UserUpdate,
    user_read,
)
from manager.services import users

router = APIRouter(tags=["users"])

LIST_SPEC = ListSpec(
    columns={
        "username": User.username,
        "id": User.pk,
        "role": User.role,
        "active": User.active,
        "created_at": User.created_at,
        "last_login_at": User.last_login_at,
    },
    fields=FIELDS,
    default_sort=("username",),
    tie_breaker=User.pk,
    search_column=User.username,
    extra_params=("_include_hash",),
)


def _get_data(request: Request) -> bool:
    return parse_bool(request.query_params.get("_get_data"), "_get_data")


@router.get("/user", response_model=UserRead, **READ, dependencies=[require("user_get_self")])
def get_self(request: Request, session: SessionDep, caller: CurrentCaller) -> dict[str, Any]:
    return user_read(users.get(session, caller.username), get_data=_get_data(request))


@router.get(
    "/users", response_model=ListRead[UserRead], **READ, dependencies=[require("user_list")]
)
def list_users(request: Request, session: SessionDep, _: CurrentPrincipal) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    get_data = _get_data(request)
    return run_list(
        session, users.listed(), LIST_SPEC, query, lambda u: user_read(u, get_data=get_data)
    )


@router.put(
    "/users",
    status_code=201,
    response_model=UserRead,
    **READ,
    dependencies=[require("user_create")],
)
def create_user(body: UserCreate, work: UnitOfWorkDep, _: CurrentPrincipal) -> dict[str, Any]:
    user = users.create(work.session, body)
    work.commit()
    return user_read(user)


@router.post(
    "/users/active/{username}",
    response_model=UserRead,
    **READ,
    dependencies=[require("user_set_activated")],
)
def set_user_active(
    username: str, body: UserActivation, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    user = users.set_active(work.session, principal, username, body.action == "activate")
    work.commit()
    return user_read(user)


@router.get(
    "/users/{username}", response_model=UserRead, **READ, dependencies=[require("user_get")]
)
def get_user(
    username: str, request: Request, session: SessionDep, _: CurrentPrincipal
) -> dict[str, Any]:
    return user_read(users.get(session, username), get_data=_get_data(request))


@router.post(
    "/users/{username}", response_model=UserRead, **READ, dependencies=[require("user_update")]
)
def update_user(
    username: str, body: UserUpdate, work: UnitOfWorkDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """`cfy users set-password` and `set-role` (one of them per call)."""
    user = users.update(work.session, principal, username, body)
    work.commit()
    return user_read(user)


@router.delete("/users/{username}", status_code=204, dependencies=[require("user_delete")])
def delete_user(username: str, work: UnitOfWorkDep, principal: CurrentPrincipal) -> Response:
    users.delete(work.session, principal, username)
    work.commit()
    return Response(status_code=204)
