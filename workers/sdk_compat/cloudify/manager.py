"""`cloudify.manager.get_rest_client`: cloudify-common's REST client for the running operation.

The client talks to the API the worker uses (REST_HOST, REST_PORT and REST_PROTOCOL, which
the worker puts in the operation's environment), in the operation's tenant, authenticated
with the execution's token, as in Cloudify.
"""

from __future__ import annotations

from typing import Any

from quarterdeck.context import current
from quarterdeck.exceptions import NonRecoverableError


def get_rest_client(tenant: str | None = None, api_token: str | None = None) -> Any:
    """A `cloudify_rest_client.CloudifyClient` acting with the running execution's token.

    `api_token` (an `Authentication-Token` made with `cfy tokens create`) is used only
    when there is no execution token, as in cloudify-common.
    """
    try:
        from cloudify_rest_client import CloudifyClient
    except ImportError as exc:
        raise NonRecoverableError(
            f"cloudify_rest_client cannot be imported in this environment: {exc}"
        ) from exc
    context = current()
    headers: dict[str, str] = {}
    token = None
    if context.execution_token:
        headers["Execution-Token"] = context.execution_token
    elif api_token:
        token = api_token
    return CloudifyClient(
        host=context.rest_host,
        port=context.rest_port,
        protocol=context.rest_protocol,
        tenant=tenant or context.tenant_name,
        headers=headers,
        token=token,
    )


def get_node_instance(node_instance_id: str, evaluate_functions: bool = False) -> Any:
    """A node instance of the operation's tenant, read through the REST client."""
    return get_rest_client().node_instances.get(
        node_instance_id, evaluate_functions=evaluate_functions
    )


__all__ = ["get_node_instance", "get_rest_client"]
