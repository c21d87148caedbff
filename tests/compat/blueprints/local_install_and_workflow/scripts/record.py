from cloudify import ctx
from cloudify.state import ctx_parameters as inputs

step = ctx.operation.name.split(".")[-1]
with open(inputs["trace"], "a") as trace:
    trace.write(f"{ctx.node.id} {step}\n")
ctx.instance.runtime_properties[step] = True
