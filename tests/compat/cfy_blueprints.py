"""Blueprints the CLI tests upload: three tiers whose bash and Python scripts record the order
they ran and pass runtime properties along through `ctx`, and one that fails on purpose."""

from __future__ import annotations

# Every script appends "<instance id> <what>" to the file the `trace_file` input names.
RECORD_SH = """\
#!/bin/bash
set -euo pipefail
op=$(ctx operation name)
echo "$(ctx instance id) ${op##*.}" >> "$TRACE"
if [ "$(ctx node id)" = host ]; then
    ctx instance runtime-properties ip 10.1.2.3
fi
ctx logger info "recorded ${op##*.} of $(ctx node id)"
"""

# Fails twice (a plain exception: retried), then succeeds; the attempt count lives in a file
# because an attempt that failed keeps nothing else.
DB_CONFIGURE_PY = """\
import os

from cloudify import ctx
from cloudify.state import ctx_parameters as inputs

counter = os.environ["TRACE"] + ".attempts"
attempt = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
with open(counter, "w") as handle:
    handle.write(str(attempt))
with open(os.environ["TRACE"], "a") as trace:
    trace.write(f"{ctx.instance.id} configure-attempt-{attempt}\\n")
if attempt < 3:
    raise RuntimeError(f"database not ready yet (attempt {attempt})")
ctx.instance.runtime_properties["db_name"] = inputs["DB_NAME"]
ctx.instance.runtime_properties["db_port"] = ctx.node.properties["port"]
ctx.instance.runtime_properties["attempts"] = attempt
ctx.logger.info("database %s configured on attempt %d", inputs["DB_NAME"], attempt)
"""

# Relationship operation on the app (source) side: reads the db (target), writes the app.
LINK_SH = """\
#!/bin/bash
set -euo pipefail
name=$(ctx target instance runtime-properties db_name)
port=$(ctx target instance runtime-properties db_port)
echo "$(ctx source instance id) preconfigure $(ctx target instance id)" >> "$TRACE"
ctx source instance runtime-properties db_url "db://$name:$port"
"""

APP_START_PY = """\
import os

from cloudify import ctx

with open(os.environ["TRACE"], "a") as trace:
    trace.write(f"{ctx.instance.id} start\\n")
ctx.instance.runtime_properties["port"] = int(os.environ["PORT"])
ctx.instance.runtime_properties["password_length"] = len(os.environ["DB_PASSWORD"])
ctx.logger.info("app listening on %s", os.environ["PORT"])
"""

_TRACE = "TRACE: {get_input: trace_file}"

TIERS = f"""\
tosca_definitions_version: cloudify_dsl_1_4
description: Three tiers whose scripts record their order.
imports:
  - http://cloudify.co/spec/cloudify/7.0.0/types.yaml
inputs:
  trace_file:
    type: string
  db_name:
    type: string
    default: appdb
  port:
    type: integer
    default: 8080
node_types:
  tiers.Database:
    derived_from: cloudify.nodes.DBMS
    properties:
      port:
        type: integer
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {{install_method: none}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {{implementation: scripts/record.sh, inputs: {{{_TRACE}}}}}
        delete: {{implementation: scripts/record.sh, inputs: {{{_TRACE}}}}}
  db:
    type: tiers.Database
    properties:
      port: 5432
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {{implementation: scripts/record.sh, inputs: {{{_TRACE}}}}}
        configure:
          implementation: scripts/db_configure.py
          max_retries: 4
          retry_interval: 0
          inputs:
            {_TRACE}
            DB_NAME: {{get_input: db_name}}
        delete: {{implementation: scripts/record.sh, inputs: {{{_TRACE}}}}}
    relationships:
      - {{type: cloudify.relationships.contained_in, target: host}}
  app:
    type: cloudify.nodes.ApplicationServer
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {{implementation: scripts/record.sh, inputs: {{{_TRACE}}}}}
        start:
          implementation: scripts/app_start.py
          inputs:
            {_TRACE}
            PORT: {{get_input: port}}
            DB_PASSWORD: {{get_secret: tiers_db_password}}
        stop: {{implementation: scripts/record.sh, inputs: {{{_TRACE}}}}}
    relationships:
      - {{type: cloudify.relationships.contained_in, target: host}}
      - type: cloudify.relationships.connected_to
        target: db
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            preconfigure: {{implementation: scripts/link.sh, inputs: {{{_TRACE}}}}}
outputs:
  endpoint:
    description: Where the app listens.
    value: {{concat: ["http://", {{get_attribute: [host, ip]}}, ":", {{get_input: port}}]}}
  database:
    description: The database the app uses.
    value: {{get_attribute: [app, db_url]}}
  db_attempts:
    value: {{get_attribute: [db, attempts]}}
"""

TIERS_FILES = {
    "blueprint.yaml": TIERS,
    "README.txt": "Uploaded with the whole directory, as cfy does.\n",
    "scripts/record.sh": RECORD_SH,
    "scripts/db_configure.py": DB_CONFIGURE_PY,
    "scripts/link.sh": LINK_SH,
    "scripts/app_start.py": APP_START_PY,
}

FAILING_SH = """\
#!/bin/bash
case "$MODE" in
  abort) ctx abort-operation "the disk is on fire"; exit 0 ;;
  exit) echo "exiting with 1 on purpose" >&2; exit 1 ;;
esac
"""

FAILING_PY = """\
from cloudify import ctx
from cloudify.exceptions import NonRecoverableError

ctx.logger.info("about to give up")
raise NonRecoverableError("the python operation gave up")
"""

FAILING = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/7.0.0/types.yaml
inputs:
  mode:
    type: string
    constraints:
      - valid_values: [abort, exit, raise]
node_templates:
  broken:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/fail.sh
          max_retries: 1
          retry_interval: 0
          inputs: {MODE: {get_input: mode}}
        configure: scripts/fail.py
"""

FAILING_FILES = {
    "blueprint.yaml": FAILING,
    "scripts/fail.sh": FAILING_SH,
    "scripts/fail.py": FAILING_PY,
}

INVALID = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/7.0.0/types.yaml
node_templates:
  vm:
    type: no.such.Type
"""

SLOW = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/7.0.0/types.yaml
node_templates:
  sleeper:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/sleep.sh
"""

SLOW_FILES = {"blueprint.yaml": SLOW, "scripts/sleep.sh": "#!/bin/bash\nsleep 60\n"}

PLUGIN_YAML = """\
plugins:
  qdtest:
    executor: central_deployment_agent
    package_name: qdtestplugin
    package_version: '1.0.0'
node_types:
  qd.T:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: qdtest.qdtestplugin.tasks.set_props
"""

NEEDS_SECRET = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/7.0.0/types.yaml
node_types:
  needs.Secret:
    derived_from: cloudify.nodes.Root
    properties:
      password: {}
node_templates:
  vm:
    type: needs.Secret
    properties:
      password: {get_secret: never_created_secret}
"""

TRIVIAL = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/7.0.0/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.Root
"""
