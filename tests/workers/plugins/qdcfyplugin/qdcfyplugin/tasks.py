"""Operations using cloudify-common's `ctx` and its REST client, unmodified Cloudify style."""

import os
import time

from cloudify import ctx
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError, RecoverableError
from cloudify.manager import get_rest_client


@operation
def create(greeting="hello", **_):
    port = ctx.node.properties["port"]
    ctx.logger.info("creating %s on port %s", ctx.instance.id, port)
    props = ctx.instance.runtime_properties
    props["port"] = port
    props["greeting"] = greeting
    props["resource"] = ctx.get_resource("files/hello.txt").decode().strip()
    props["secret"] = get_rest_client().secrets.get("qd-cfy-secret").value
    props["plugin"] = [ctx.plugin.name, ctx.plugin.package_name, ctx.plugin.package_version]
    props["execution_status"] = ctx.get_execution().status
    props["operation_state"] = ctx.get_operation().state
    ctx.update_operation("started")
    props["tenant"] = ctx.tenant["name"]
    props["resource_tags"] = dict(ctx.deployment.resource_tags)
    ctx.send_event(f"created {ctx.instance.id}")


@operation
def configure(**_):
    if ctx.operation.retry_number == 0:
        return ctx.operation.retry("not configured yet", retry_after=0)
    ctx.instance.runtime_properties["configured_at_retry"] = ctx.operation.retry_number
    ctx.logger.info("configured %s", ctx.instance.id)


@operation
def connect(**_):
    """A source-side relationship operation: reads the target, writes the source."""
    port = ctx.target.instance.runtime_properties["port"]
    ctx.source.instance.runtime_properties["peer_port"] = port
    ctx.source.instance.runtime_properties["peer"] = ctx.target.instance.id
    ctx.logger.info("connecting %s to %s", ctx.source.instance.id, ctx.target.instance.id)


@operation
def delete(**_):
    ctx.logger.info("deleting %s", ctx.instance.id)
    ctx.instance.runtime_properties["deleted"] = True


# For the worker tests: outcomes that touch no REST endpoint --------------------------------


@operation
def give(value=None, **_):
    return {"value": value, "task_id": ctx.task_id, "node": ctx.node.id}


@operation
def fail_hard(**_):
    raise NonRecoverableError("broken for good")


@operation
def fail_soft(**_):
    raise RecoverableError("try later", retry_after=7)


@operation
def fail_plain(**_):
    return {}["missing"]


@operation
def ask_retry(**_):
    return ctx.operation.retry("not yet", retry_after=3)


@operation
def sleep(seconds=30, marker=None, **_):
    if marker:
        with open(marker, "w") as handle:
            handle.write(str(os.getpid()))
    time.sleep(float(seconds))


@operation
def environment(**_):
    names = ("REST_HOST", "REST_PORT", "REST_PROTOCOL", "LOCAL_REST_CERT_FILE", "AGENT_WORK_DIR")
    found = {name: os.environ.get(name) for name in names}
    found["qd"] = sorted(name for name in os.environ if name.startswith("QD_"))
    return found
