"""Compatibility `cloudify` package over Quarterdeck's SDK, for venvs without cloudify-common.

Where cloudify-common is installed as well (the worker's own environment has it, for
`cloudify_rest_client`), its modules that this package does not define (`cloudify.constants`,
`cloudify.utils`, `cloudify.models_states`, ...) are found through the package path below,
so `cloudify_rest_client` imports; the modules defined here (`ctx`, `exceptions`, `state`,
`decorators`, `manager`) win because this directory comes first.
"""

import pkgutil

from quarterdeck import ctx

__path__ = pkgutil.extend_path(__path__, __name__)

__all__ = ["ctx"]
