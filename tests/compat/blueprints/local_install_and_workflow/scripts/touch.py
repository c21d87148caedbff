from cloudify import ctx
from cloudify.state import ctx_parameters as inputs

with open(inputs["trace"], "a") as trace:
    trace.write(f"{ctx.node.id} touch {inputs['label']}\n")
touched = ctx.instance.runtime_properties.get("touched", 0)
ctx.instance.runtime_properties["touched"] = touched + 1
