"""Blueprints of the engine tests: every operation runs a script that records itself."""

from __future__ import annotations

TRACE_SCRIPT = """\
import os
import time

from cloudify import ctx

name = ctx.operation.name
if ctx.type == "relationship-instance":
    who = ctx.source.instance.id + "->" + ctx.target.instance.id
    side = os.environ.get("SIDE", "")
else:
    who = ctx.instance.id
    ops = list(ctx.instance.runtime_properties.get("ops", []))
    ops.append(name.rsplit(".", 1)[-1])
    ctx.instance.runtime_properties["ops"] = ops
    ctx.instance.runtime_properties["last_op"] = name
with open(os.environ["TRACE_FILE"], "a") as trace:
    trace.write(f"{time.time():.6f} {who} {name}\\n")
"""

_OP = "{implementation: scripts/trace.py, inputs: {TRACE_FILE: {default: {get_input: trace_file}}}}"
_NODE_OPS = "\n".join(
    f"        {op}: {_OP}"
    for op in (
        "precreate",
        "create",
        "configure",
        "start",
        "poststart",
        "prestop",
        "stop",
        "delete",
        "postdelete",
        "heal",
    )
)
_REL_OPS = "\n".join(
    f"        {op}: {_OP}" for op in ("preconfigure", "postconfigure", "establish", "unlink")
)

TRACING = f"""
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  trace_file:
    type: string
  db_count:
    type: integer
    default: 2
node_types:
  traced.Compute:
    derived_from: cloudify.nodes.Compute
    properties:
      agent_config:
        default: {{install_method: none}}
    interfaces: &node_interfaces
      cloudify.interfaces.validation:
        create: {_OP}
        delete: {_OP}
      cloudify.interfaces.monitoring:
        start: {_OP}
        stop: {_OP}
      cloudify.interfaces.lifecycle:
{_NODE_OPS}
  traced.Node:
    derived_from: cloudify.nodes.Root
    interfaces: *node_interfaces
relationships:
  traced_contained_in:
    derived_from: cloudify.relationships.contained_in
    source_interfaces: &rel_interfaces
      cloudify.interfaces.relationship_lifecycle:
{_REL_OPS}
    target_interfaces: *rel_interfaces
  traced_connected_to:
    derived_from: cloudify.relationships.connected_to
    source_interfaces: *rel_interfaces
    target_interfaces: *rel_interfaces
node_templates:
  vm:
    type: traced.Compute
  app:
    type: traced.Node
    relationships:
      - {{type: traced_contained_in, target: vm}}
      - {{type: traced_connected_to, target: db}}
  db:
    type: traced.Node
    capabilities:
      scalable:
        properties:
          default_instances: {{get_input: db_count}}
outputs:
  app_ops:
    value: {{get_attribute: [app, ops]}}
  db_ops_list:
    value: {{get_attributes_list: [db, last_op]}}
"""

TRACING_FILES = {"blueprint.yaml": TRACING, "scripts/trace.py": TRACE_SCRIPT}


def read_trace(path: str) -> list[tuple[float, str, str]]:
    rows = []
    with open(path) as trace:
        for line in trace:
            stamp, who, name = line.split()
            rows.append((float(stamp), who, name))
    return sorted(rows)


FLAKY_SCRIPT = """\
import os

from cloudify import ctx
from cloudify.exceptions import NonRecoverableError, RecoverableError

counter = os.path.join(os.environ["COUNT_DIR"], ctx.instance.id)
attempt = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
with open(counter, "w") as handle:
    handle.write(str(attempt))
ctx.logger.info(
    "ATTEMPT %d of %s (retry_number=%d max_retries=%s)",
    attempt, ctx.operation.name, ctx.operation.retry_number, ctx.operation.max_retries,
)
if attempt <= int(os.environ["FAIL_TIMES"]):
    kind = os.environ["KIND"]
    if kind == "plain":
        raise RuntimeError("boom (plain exception)")
    if kind == "recoverable":
        raise RecoverableError("boom (recoverable)", retry_after=0)
    if kind == "nonrecoverable":
        raise NonRecoverableError("boom (nonrecoverable)")
    ctx.operation.retry(message="asked for retry", retry_after=0)
ctx.instance.runtime_properties["attempts"] = attempt
"""

FLAKY = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  fail_times: {type: integer, default: 2}
  kind:
    type: string
    default: plain
    constraints:
      - valid_values: [plain, recoverable, nonrecoverable, retry]
  count_dir: {type: string}
node_templates:
  base:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/flaky.py
          inputs:
            FAIL_TIMES: {get_input: fail_times}
            KIND: {get_input: kind}
            COUNT_DIR: {get_input: count_dir}
  sibling:
    type: cloudify.nodes.Root
  dependent:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.depends_on, target: base}
"""

FLAKY_FILES = {"blueprint.yaml": FLAKY, "scripts/flaky.py": FLAKY_SCRIPT}

SLOW = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  marker_dir: {type: string}
  seconds: {type: integer, default: 3}
node_templates:
  first:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/slow.sh
          inputs: {MARKER_DIR: {get_input: marker_dir}, SECONDS_: {get_input: seconds}}
  second:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.depends_on, target: first}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/slow.sh
          inputs: {MARKER_DIR: {get_input: marker_dir}, SECONDS_: {get_input: seconds}}
"""

SLOW_SCRIPT = """#!/bin/bash
set -e
id=$(ctx instance id)
touch "$MARKER_DIR/$id.started.$$"
if [ -e "$MARKER_DIR/fail" ]; then
  ctx abort-operation "the fail marker is present"
  exit 1
fi
sleep "$SECONDS_"
ctx instance runtime-properties done true
touch "$MARKER_DIR/$id.done"
"""

SLOW_FILES = {"blueprint.yaml": SLOW, "scripts/slow.sh": SLOW_SCRIPT}


SCALABLE = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  marker_dir: {type: string}
node_types:
  marked:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/mark.sh
          inputs: {MARKER_DIR: {default: {get_input: marker_dir}}}
        delete:
          implementation: scripts/mark.sh
          inputs: {MARKER_DIR: {default: {get_input: marker_dir}}}
node_templates:
  db:
    type: marked
  web:
    type: marked
    relationships:
      - type: cloudify.relationships.connected_to
        target: db
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish:
              implementation: scripts/mark.sh
              inputs: {MARKER_DIR: {get_input: marker_dir}}
            unlink:
              implementation: scripts/mark.sh
              inputs: {MARKER_DIR: {get_input: marker_dir}}
"""

MARK_SCRIPT = """#!/bin/bash
set -e
if [ -n "$(ctx source instance id 2>/dev/null)" ]; then
  who="$(ctx source instance id)-$(ctx target instance id)"
else
  who="$(ctx instance id)"
fi
op=$(ctx operation name)
touch "$MARKER_DIR/$who.${op##*.}"
if [ -e "$MARKER_DIR/fail-create" ] && [ "${op##*.}" = create ]; then
  ctx abort-operation "create refused by the fail marker"
fi
"""

SCALABLE_FILES = {"blueprint.yaml": SCALABLE, "scripts/mark.sh": MARK_SCRIPT}
