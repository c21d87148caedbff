"""Secret values: encrypted at rest with Fernet, the key derived from the secret key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Secret
from manager.errors import QuarterdeckError


class SecretKeyMismatch(QuarterdeckError):
    error_code = "internal_server_error"


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


def value_of(session: Session, secret_key: str, tenant_pk: int, key: str) -> str | None:
    """The decrypted value of a secret visible in the tenant, or None when absent."""
    secret = session.scalars(
        select(Secret).where(
            Secret.key == key, (Secret.tenant_pk == tenant_pk) | (Secret.visibility == "global")
        )
    ).first()
    return decrypt(secret_key, secret.encrypted_value) if secret is not None else None
