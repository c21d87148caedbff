"""`cloudify.nodes.Blueprint`: a blueprint uploaded with the node and deleted with it."""

from __future__ import annotations

from typing import Any

from cloudify_rest_client.exceptions import CloudifyClientError
from cloudify_types import common

from quarterdeck import ctx, operation


@operation(resumable=True)
def upload(**inputs: Any) -> bool:
    inputs.pop("ctx", None)
    rest = common.client(inputs)
    config = dict(common.setting("resource_config", inputs) or {})
    common.upload_blueprint(rest, config, common.EXECUTIONS_TIMEOUT)
    return True


@operation(resumable=True)
def delete(**inputs: Any) -> bool:
    inputs.pop("ctx", None)
    rest = common.client(inputs)
    config = dict(common.setting("resource_config", inputs) or {})
    if not config.get("external_resource"):
        blueprint_id = config.get("id") or ctx.instance.id
        try:
            rest.blueprints.delete(blueprint_id)
        except CloudifyClientError as exc:
            ctx.logger.warning('Blueprint "%s" was not deleted: %s', blueprint_id, exc)
    ctx.instance.runtime_properties.pop("blueprint", None)
    return True
