from cloudify.workflows import ctx, parameters

# One node after the other, in name order, so that both engines write the same trace.
for round_number in range(parameters["rounds"]):
    for node in sorted(ctx.nodes, key=lambda n: n.id):
        if "maintenance.touch" not in node.operations:
            continue
        for instance in node.instances:
            label = f"{parameters['label']}-{round_number}"
            # `label` is also a declared input of the service's operation: Cloudify refuses
            # the clash unless the override is allowed.
            instance.execute_operation(
                "maintenance.touch", kwargs={"label": label}, allow_kwargs_override=True
            ).get()
