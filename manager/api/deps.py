"""Request dependencies: settings, the database session and the authenticated principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from manager.db.engine import Database
from manager.errors import Unauthorized
from manager.services import identity
from manager.services.identity import Principal
from manager.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; reads take no write lock. Routes commit what they change."""
    database = get_database(request)
    session = database.session(write=request.method not in ("GET", "HEAD"))
    try:
        yield session
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(request: Request, session: SessionDep) -> Principal:
    tenant = request.headers.get("tenant") or identity.DEFAULT_TENANT
    authorization = request.headers.get("authorization")
    if authorization and authorization[:6].lower() == "basic ":
        username, password = identity.parse_basic(authorization)
        user = identity.authenticate_password(session, username, password)
        return identity.act_in_tenant(session, user, tenant)
    raise Unauthorized("No authentication info provided")


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
