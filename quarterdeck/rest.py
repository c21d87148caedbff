"""How operation code reaches the manager's REST API: `ctx.get_managers()`, `ctx.get_brokers()`,
`ctx.get_tenant()` and `ctx.agent` (standard library only, like the rest of the SDK).

The worker puts the API's address in the operation's environment under Cloudify's names
(REST_HOST, REST_PORT, REST_PROTOCOL); requests carry the execution's token, so they act as
the user who started the execution, in its tenant only.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from quarterdeck.exceptions import HttpException, NonRecoverableError, RecoverableError

API_PREFIX = "/api/v3.1"
COMPUTE_TYPE = "cloudify.nodes.Compute"
# Agent install methods whose installation script Cloudify renders for the operation.
SCRIPT_INSTALL_METHODS = ("init_script", "provided")
REQUEST_TIMEOUT = 30.0


def rest_host() -> str:
    return os.environ.get("REST_HOST", "127.0.0.1").split(",")[0].strip()


def rest_port() -> int:
    value = os.environ.get("REST_PORT", "")
    return int(value) if value.isdigit() else 80


def rest_protocol() -> str:
    return os.environ.get("REST_PROTOCOL") or "http"


class Item(dict[str, Any]):
    """A REST resource as a dict whose keys also read as attributes (`manager.hostname`),
    like the items of cloudify_rest_client."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def get_json(path: str, token: str | None, tenant: str | None) -> Any:
    """GET an API path (under /api/v3.1) with the execution token; the decoded body."""
    url = f"{rest_protocol()}://{rest_host()}:{rest_port()}{API_PREFIX}{path}"
    headers = {"Accept": "application/json"}
    if token:
        headers["Execution-Token"] = token
    if tenant:
        headers["Tenant"] = tenant
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        try:
            message = json.loads(body).get("message") or body
        except (ValueError, AttributeError):
            message = body
        raise HttpException(url, exc.code, message) from None
    except (urllib.error.URLError, OSError) as exc:
        raise RecoverableError(f"cannot reach the manager at {url}: {exc}") from exc


def in_network(items: list[dict[str, Any]], network: str) -> list[Item]:
    """The items (managers or brokers) that have an address on `network`."""
    return [Item(item) for item in items if network in (item.get("networks") or {})]


class AgentContext:
    """`ctx.agent` of a Compute node. Quarterdeck installs no agents, so there is no
    installation script to render: `init_script` returns None for install methods that need
    none (as in Cloudify) and refuses the others by name."""

    def __init__(self, properties: dict[str, Any]) -> None:
        self._properties = properties

    def install_method(self) -> str | None:
        config = self._properties.get("agent_config") or {}
        return config.get("install_method") if isinstance(config, dict) else None

    def init_script(self, agent_config: dict[str, Any] | None = None) -> str | None:
        method = self.install_method()
        if method not in SCRIPT_INSTALL_METHODS:
            return None
        raise NonRecoverableError(
            f"ctx.agent.init_script: agent install method {method!r} needs an agent "
            "installation script, and Quarterdeck installs no agents"
        )
