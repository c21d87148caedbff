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


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class VerifiedPasswords:
    """Successful password checks, remembered for a short while (one per application).

    HTTP Basic sends the password on every request, and argon2 is slow by design (tens of
    milliseconds). A check is keyed by a keyed digest of (stored hash, password), so a
    changed password or a wrong one never hits it.
    """

    def __init__(self, seconds: float = 60.0, max_entries: int = 4096) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._verified: dict[bytes, float] = {}
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)

    def verify(self, stored_hash: str, password: str) -> bool:
        digest = hmac.new(self._key, f"{stored_hash}\0{password}".encode(), "sha256").digest()
        now = time.monotonic()
        with self._lock:
            expires = self._verified.get(digest)
            if expires is not None and expires > now:
                return True
        if not verify_password(stored_hash, password):
            return False
        with self._lock:
            if len(self._verified) >= self.max_entries:
                self._verified.clear()
            self._verified[digest] = now + self.seconds
        return True


def verify_password(stored_hash: str, password: str) -> bool:
    """The argon2 check itself, remembered nowhere (see VerifiedPasswords)."""
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    return True


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)
