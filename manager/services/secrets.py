"""Secrets: values encrypted at rest with Fernet (key derived from QD_SECRET_KEY), CRUD."""

from __future__ import annotations

import base64
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from manager.db import Secret
from manager.db.base import utcnow
from manager.errors import (
    BadParameters,
    Conflict,
    Forbidden,
    IllegalAction,
    NotFound,
    QuarterdeckError,
)
from manager.permissions import authorize
from manager.schemas.secrets import SecretCreate, SecretUpdate
from manager.services.identity import Principal
from manager.services.tenancy import check_own_tenant, visible
from manager.uploads import check_id

# Values never reach a log line: only keys and tenants are logged here.
log = logging.getLogger(__name__)


class SecretKeyMismatch(QuarterdeckError):
    error_code = "internal_server_error"


def listed() -> Select[Secret]:
    """Every secret, before a list's visibility and filters."""
    return select(Secret)


def fernet(secret_key: str) -> Fernet:
    # A fixed context string keeps this key apart from anything else derived from it.
    digest = hashlib.sha256(b"quarterdeck secrets\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret_key: str, value: str) -> str:
    return fernet(secret_key).encrypt(value.encode()).decode()


def decrypt(secret_key: str, token: str) -> str:
    try:
        return fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyMismatch(
            "A stored secret cannot be decrypted: QD_SECRET_KEY differs from the key it was "
            "stored with"
        ) from None


_WIDTH = {"private": 0, "tenant": 1, "global": 2}


def get(session: Session, principal: Principal, key: str) -> Secret:
    """The secret `key` visible in the tenant; the tenant's own wins over a global one."""
    stmt = visible(select(Secret).where(Secret.key == key), Secret, principal)
    stmt = stmt.order_by((Secret.tenant_pk != principal.tenant_pk).asc())
    secret = session.scalars(stmt).first()
    if secret is None:
        raise NotFound.of("Secret", key)
    return secret


def value_permitted(principal: Principal, secret: Secret) -> bool:
    """Whether the principal may read the value of a secret it can see (`get` found it).

    The one rule behind `GET /secrets/<key>` and every `get_secret` the API resolves
    (functions, outputs, capabilities, node properties, operation inputs): as in Cloudify,
    a hidden value only for its creator, a manager of its tenant or a system administrator.
    """
    return not secret.is_hidden_value or hidden_value_permitted(principal, secret)


def readable_value(secret_key: str, principal: Principal, secret: Secret) -> str:
    """What a response about the secret may carry: a value the caller may not read is blank."""
    if not value_permitted(principal, secret):
        return ""
    return decrypt(secret_key, secret.encrypted_value)


class SecretNotReadable(QuarterdeckError):
    status_code = 403
    error_code = "forbidden_error"


def resolve(session: Session, principal: Principal, secret_key: str, key: str) -> str | None:
    """The value `get_secret` gives the principal: None when it cannot see the secret (a
    private one of another user, another tenant's non-global one: as if absent, so nothing
    says it exists), SecretNotReadable when it sees a hidden one whose value it may not read.
    """
    try:
        secret = get(session, principal, key)
    except NotFound:
        return None
    if not value_permitted(principal, secret):
        raise SecretNotReadable(
            f"User `{principal.username}` is not permitted to read the value of the hidden "
            f"secret `{key}`"
        )
    return decrypt(secret_key, secret.encrypted_value)


def create(
    session: Session, principal: Principal, secret_key: str, key: str, body: SecretCreate
) -> Secret:
    """Create a secret, or with `update_if_exists` update the one already there."""
    check_id("secret", key)
    if not body.value:
        raise BadParameters(f"Cannot create a secret with empty value: {key}")
    visibility = body.visibility or "tenant"
    existing = session.scalars(
        select(Secret).where(
            Secret.key == key,
            (Secret.tenant_pk == principal.tenant_pk) | (Secret.visibility == "global"),
        )
    ).first()
    if existing is not None:
        can_see = session.scalar(
            visible(select(Secret.pk).where(Secret.pk == existing.pk), Secret, principal)
        )
        if not body.update_if_exists or can_see is None:
            raise Conflict(f"Secret `{key}` already exists on tenant `{principal.tenant_name}`")
        changes = SecretUpdate(value=body.value, is_hidden_value=body.is_hidden_value)
        if body.visibility is not None and body.visibility != existing.visibility:
            changes.visibility = body.visibility
        return update(session, principal, secret_key, key, changes)
    if visibility == "global":
        _check_global(session, principal, key, None)
    secret = Secret(
        key=key,
        encrypted_value=encrypt(secret_key, body.value),
        is_hidden_value=body.is_hidden_value,
        visibility=visibility,
        schema=body.schema_,
        provider_name=body.provider_name,
        provider_options=body.provider_options,
        tenant_pk=principal.tenant_pk,
        created_by_pk=principal.user_pk,
    )
    session.add(secret)
    session.flush()
    log.info("secret `%s` created in tenant `%s`", key, principal.tenant_name)
    return secret


def update(
    session: Session, principal: Principal, secret_key: str, key: str, changes: SecretUpdate
) -> Secret:
    sent = changes.model_dump(exclude_none=True)
    if not sent:
        raise IllegalAction("Update a secret request must include at least one parameter")
    secret = get(session, principal, key)
    _check_modifiable(principal, secret)
    if changes.is_hidden_value is not None:
        secret.is_hidden_value = changes.is_hidden_value
    if changes.visibility is not None:
        set_visibility(session, principal, secret, changes.visibility)
    if changes.value:
        secret.encrypted_value = encrypt(secret_key, changes.value)
    if changes.provider_name is not None:
        secret.provider_name = changes.provider_name
    if changes.provider_options is not None:
        secret.provider_options = changes.provider_options
    secret.updated_at = utcnow()
    session.flush()
    log.info("secret `%s` updated in tenant `%s`", key, principal.tenant_name)
    return secret


def set_visibility(session: Session, principal: Principal, secret: Secret, visibility: str) -> None:
    """Visibility only widens (private -> tenant -> global), as in Cloudify."""
    if visibility == secret.visibility:
        return
    if _WIDTH[visibility] < _WIDTH[secret.visibility]:
        raise IllegalAction(
            f"Can't set the visibility of `{secret.key}` to {visibility} because it already "
            f"has wider visibility ({secret.visibility})"
        )
    if visibility == "global":
        _check_global(session, principal, secret.key, secret.pk)
    secret.visibility = visibility


def delete(session: Session, principal: Principal, key: str) -> None:
    secret = get(session, principal, key)
    _check_modifiable(principal, secret)
    session.delete(secret)
    session.flush()
    log.info("secret `%s` deleted from tenant `%s`", key, principal.tenant_name)


def _check_modifiable(principal: Principal, secret: Secret) -> None:
    check_own_tenant(principal, secret, "change")
    if secret.is_hidden_value and not hidden_value_permitted(principal, secret):
        raise Forbidden(
            f"User `{principal.username}` is not permitted to modify the hidden value "
            f"secret `{secret.key}`"
        )


def hidden_value_permitted(principal: Principal, secret: Secret) -> bool:
    """Who may read or change a hidden secret: its creator, managers of the secret's own
    tenant (not of another tenant that sees it because it is global), system administrators."""
    return (
        principal.is_admin
        or (principal.role == "manager" and principal.tenant_pk == secret.tenant_pk)
        or secret.created_by_pk == principal.user_pk
    )


def _check_global(session: Session, principal: Principal, key: str, own_pk: int | None) -> None:
    authorize(principal, "create_global_resource")
    clash = session.scalar(select(Secret.pk).where(Secret.key == key, Secret.pk != own_pk))
    if clash is not None:
        raise Conflict(
            f"Cannot make secret `{key}` global: a secret with that key exists in another tenant"
        )
