"""What the scripts the CLI venv runs share: the request file they are given, and a client of
the server it names. Imports only what that venv has (never the project's modules)."""

from __future__ import annotations

import json
import sys

from cloudify_rest_client import CloudifyClient


def client_and_request() -> tuple[CloudifyClient, dict]:
    """`sys.argv[1]` read as JSON (keys: port, password, ...), and an admin's client."""
    with open(sys.argv[1]) as handle:
        request = json.load(handle)
    client = CloudifyClient(
        host="127.0.0.1",
        port=request["port"],
        protocol="http",
        username="admin",
        password=request["password"],
        tenant="default_tenant",
    )
    return client, request
