"""Operations exercising the runner: success, every failure kind, crashes, ctx services."""

import os
import sys
import time

import qddep

from quarterdeck import NonRecoverableError, OperationRetry, RecoverableError, ctx, operation


def noop():
    return None


def echo(**inputs):
    inputs.pop("ctx")  # like Cloudify, functions taking **kwargs get ctx too
    return inputs


@operation
def set_props(ctx, **props):
    ctx.instance.runtime_properties.update(props)
    return sorted(ctx.instance.runtime_properties)


def nested_mutation():
    # In-place changes below the top level: Cloudify would lose them, we must not.
    ctx.instance.runtime_properties["config"]["port"] = 8080
    ctx.instance.runtime_properties["items"].append(3)


def fail_nonrecoverable():
    raise NonRecoverableError("bad input")


def fail_recoverable():
    ctx.instance.runtime_properties["attempted"] = True
    raise RecoverableError("try later", retry_after=5)


def ask_retry(ctx):
    return ctx.operation.retry("not yet", retry_after=2.5)


def raise_retry():
    raise OperationRetry("still waiting", retry_after=1)


def plain_error():
    return {}["missing"]


def crash():
    sys.stderr.write("about to crash\n")
    sys.stderr.flush()
    os._exit(3)


def sys_exit():
    sys.exit(4)


def sleep(seconds):
    time.sleep(seconds)
    return "slept"


def noisy():
    print("hello from print")
    sys.stdout.flush()
    os.write(1, b"raw write to fd 1\n")
    return "clean"


def secret(ctx, key):
    return ctx.get_secret(key)


def pid():
    return os.getpid()


def log_things(ctx):
    ctx.logger.info("info %s", 1)
    ctx.logger.warning("careful")
    ctx.send_event("custom event")


def resource(ctx, path):
    return ctx.get_resource(path).decode()


def render(ctx, path):
    with open(ctx.download_resource_and_render(path, template_variables={"name": "world"})) as f:
        return f.read()


def dep_value():
    return qddep.VALUE


def cloudify_style():
    from cloudify import ctx as cloudify_ctx
    from cloudify.exceptions import NonRecoverableError as CloudifyError

    assert CloudifyError is NonRecoverableError
    cloudify_ctx.instance.runtime_properties["via"] = "cloudify"
    return cloudify_ctx.node.properties["port"]


def update_then_crash(ctx):
    ctx.instance.runtime_properties["saved"] = 1
    ctx.instance.update()
    ctx.instance.runtime_properties["lost"] = 1
    os._exit(5)


def relationship(ctx):
    target_ip = ctx.target.instance.runtime_properties["ip"]
    ctx.source.instance.runtime_properties["target_ip"] = target_ip
    ctx.target.instance.runtime_properties["sources"] = [ctx.source.instance.id]
    return ctx.type


def read_relationships(ctx):
    rel = ctx.instance.relationships[0]
    return [rel.type, rel.target_id, rel.target.node.properties.get("port")]


@operation(resumable=True)
def resumable():
    return "resumed"


def not_resumable():
    return "ran"
