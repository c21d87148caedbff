"""The contract between the API and its workers, imported by both sides.

It depends on the standard library only, so a worker needs neither `manager` nor its
dependencies to speak it. WIRE_VERSION changes whenever a message changes shape: a worker
and an API of different versions then refuse each other with a message naming both,
instead of failing later on a missing key.
"""

from __future__ import annotations

import hmac

# Bump on any change of a message in `wire.operations` (a key added, removed or retyped).
WIRE_VERSION = 1
# The header every worker request carries its WIRE_VERSION in.
WIRE_HEADER = "X-Quarterdeck-Wire"
# The error code of the API's answer to a worker of another wire version (HTTP 400).
WIRE_MISMATCH = "wire_version_mismatch"


def mismatch_message(worker_version: str | None, api_version: int = WIRE_VERSION) -> str:
    """What the API answers, and the worker logs, when their wire versions differ."""
    sent = f"wire version {worker_version}" if worker_version else "no wire version"
    return (
        f"this worker speaks {sent} but the API speaks wire version {api_version}: "
        "run workers of the API's release"
    )


def derive_worker_token(secret_key: str) -> str:
    """The worker token derived from the API's secret key, when QD_WORKER_TOKEN is unset
    (a worker on the API's machine may be given the key instead of the token)."""
    digest = hmac.new(secret_key.encode(), b"quarterdeck-worker-token", "sha256")
    return digest.hexdigest()
