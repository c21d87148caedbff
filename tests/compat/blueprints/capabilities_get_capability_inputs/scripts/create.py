from cloudify import ctx

ctx.logger.info("creating")
