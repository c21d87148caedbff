"""The API token resource (`cfy tokens`); the value appears only in the creation response."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from manager.db import Token
from manager.schemas.common import iso

FIELDS = ("id", "description", "expiration_date", "last_used", "username", "role")


class TokenCreate(BaseModel):
    description: str | None = None
    # ISO 8601, `YYYY-MM-DD HH:MM`, or relative (`+10h`, `+1 day`).
    expiration_date: str | None = None


class TokenRead(BaseModel):
    """An API token; `value` only in the answer that created it. Fields are optional for
    `_include`."""

    id: str | None = None
    description: str | None = None
    expiration_date: str | None = None
    last_used: str | None = None
    username: str | None = None
    role: str | None = None
    value: str | None = None


def token_read(token: Token, value: str | None = None) -> dict[str, Any]:
    item = {
        "id": token.id,
        "description": token.description,
        "expiration_date": iso(token.expires_at),
        "last_used": iso(token.last_used_at),
        "username": token.user.username,
        "role": token.user.role,
    }
    if value is not None:
        item["value"] = value
    return item
