from cloudify.workflows import ctx, parameters

ctx.logger.info("parameters: %s", dict(parameters))
for node in ctx.nodes:
    for instance in node.instances:
        ctx.logger.info("visiting %s", instance.id)
