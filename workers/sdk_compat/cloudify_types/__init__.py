"""Quarterdeck's own implementation of the operations behind Cloudify's built-in node types
(`cloudify.nodes.Component`, `ServiceComponent`, `SharedResource`, `Blueprint`,
`PasswordSecret`), which the standard types map to `cfy_extensions.cloudify_types.*`.

They run in the worker's warm runners like any operation written with the SDK, and do their
work through the manager's REST API with the execution's token (`cloudify.manager.
get_rest_client`), so they can do exactly what the user who started the execution may do.
"""
