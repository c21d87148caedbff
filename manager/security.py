"""Password hashing with a short-lived verification cache, and token hashing."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# HTTP Basic sends the password on every request, and argon2 is slow by design (tens of
# milliseconds). A successful check is remembered for a short while, keyed by a keyed
# digest of (stored hash, password), so a changed password or a wrong one never hits it.
_CACHE_SECONDS = 60.0
_CACHE_MAX = 4096
_verified: dict[bytes, float] = {}
_lock = threading.Lock()
_cache_key = secrets.token_bytes(32)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    digest = hmac.new(_cache_key, f"{stored_hash}\0{password}".encode(), "sha256").digest()
    now = time.monotonic()
    with _lock:
        expires = _verified.get(digest)
        if expires is not None and expires > now:
            return True
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    with _lock:
        if len(_verified) >= _CACHE_MAX:
            _verified.clear()
        _verified[digest] = now + _CACHE_SECONDS
    return True


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)
