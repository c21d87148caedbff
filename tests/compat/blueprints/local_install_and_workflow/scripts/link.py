from cloudify import ctx
from cloudify.state import ctx_parameters as inputs

with open(inputs["trace"], "a") as trace:
    trace.write(f"{ctx.source.node.id} preconfigure {ctx.target.node.id}\n")
ctx.source.instance.runtime_properties["linked_to"] = ctx.target.node.id
