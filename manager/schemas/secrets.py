"""The secret resource as `cfy secrets` reads it, and the bodies it sends."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from manager.db import Secret
from manager.schemas.common import OwnedRead, check_visibility, iso, ownership

# A list item has no value: listing never decrypts (Cloudify's SecretsListResponse).
LIST_FIELDS = (
    "key",
    "created_at",
    "updated_at",
    "visibility",
    "resource_availability",
    "private_resource",
    "tenant_name",
    "created_by",
    "is_hidden_value",
    "schema",
    "provider_name",
    "provider_options",
)


def _text(value: Any) -> Any:
    # Values with a schema may be JSON documents; they are stored as their JSON text.
    return value if value is None or isinstance(value, str) else json.dumps(value)


class SecretCreate(BaseModel):
    value: Any
    update_if_exists: bool = False
    is_hidden_value: bool = False
    visibility: str | None = None
    # `schema` would shadow a BaseModel attribute; the wire name is kept by the alias.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    provider_name: str | None = None
    provider_options: dict[str, Any] | None = None

    _check_visibility = field_validator("visibility")(check_visibility)
    _as_text = field_validator("value")(_text)


class SecretUpdate(BaseModel):
    """PATCH: only the keys sent (and not null) change."""

    value: Any = None
    visibility: str | None = None
    is_hidden_value: bool | None = None
    provider_name: str | None = None
    provider_options: dict[str, Any] | None = None

    _check_visibility = field_validator("visibility")(check_visibility)
    _as_text = field_validator("value")(_text)


class SecretVisibility(BaseModel):
    visibility: str

    _check_visibility = field_validator("visibility")(check_visibility)


class SecretRead(OwnedRead):
    """A secret; `value` only when one secret is read (decrypted, or "" when hidden)."""

    # (`schema` would shadow a BaseModel attribute: the field takes it as its alias.)
    model_config = ConfigDict(populate_by_name=True)

    key: str | None = None
    updated_at: str | None = None
    is_hidden_value: bool | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    provider_name: str | None = None
    provider_options: dict[str, Any] | None = None
    value: str | None = None


def secret_list_item(secret: Secret) -> dict[str, Any]:
    return {
        "key": secret.key,
        **ownership(secret),
        "updated_at": iso(secret.updated_at),
        "is_hidden_value": secret.is_hidden_value,
        "schema": secret.schema,
        "provider_name": secret.provider_name,
        "provider_options": secret.provider_options,
    }


def secret_read(secret: Secret, value: str) -> dict[str, Any]:
    """The full secret; `value` is the decrypted value, or "" when it is hidden."""
    return {**secret_list_item(secret), "value": value}
