"""The blueprint of the custom workflow tests: two traced nodes, a workflow plugin shipped in
the blueprint (`plugins/wfflows`), and a script workflow."""

from __future__ import annotations

from pathlib import Path

BACKEND = Path(__file__).parents[1] / "workers" / "plugins" / "qd_backend.py"

# Every node operation appends "<instance> <operation> <LABEL>" to TRACE_FILE.
TOUCH = """\
import os

from cloudify import ctx

with open(os.environ["TRACE_FILE"], "a") as trace:
    trace.write(f"{ctx.instance.id} {ctx.operation.name} {os.environ.get('LABEL', '-')}\\n")
"""

_OP = "{implementation: scripts/touch.py, inputs: {TRACE_FILE: {default: {get_input: trace_file}}}}"

BLUEPRINT = f"""
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  trace_file: {{type: string}}
plugins:
  flows:
    executor: central_deployment_agent
    package_name: wfflows
    package_version: "1.0.0"
    source: wfflows
node_types:
  traced.Node:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {_OP}
        configure: {_OP}
        start: {_OP}
        stop: {_OP}
        delete: {_OP}
      custom:
        touch: {_OP}
node_templates:
  db:
    type: traced.Node
  app:
    type: traced.Node
    relationships:
      - {{type: cloudify.relationships.depends_on, target: db}}
workflows:
  scripted:
    mapping: scripts/flow.py
    parameters:
      label: {{type: string}}
      count: {{type: integer, default: 2}}
  touch_all:
    mapping: flows.wfflows.touch_all
    parameters:
      label: {{type: string, default: plain}}
  graph_demo: flows.wfflows.graph_demo
  failing_graph: flows.wfflows.failing_graph
  install_helpers: flows.wfflows.install_helpers
  uninstall_helpers: flows.wfflows.uninstall_helpers
  run_op:
    mapping: flows.wfflows.run_op
    parameters:
      operation: {{type: string}}
  slow_flow:
    mapping: flows.wfflows.slow_flow
    parameters:
      marker_dir: {{type: string}}
"""

FLOW_SCRIPT = """\
from cloudify.workflows import ctx, parameters

for node in ctx.nodes:
    for instance in node.instances:
        for index in range(parameters.count):
            label = f"{parameters.label}-{index}"
            instance.execute_operation("custom.touch", kwargs={"LABEL": label}).get()
ctx.send_event(
    f"scripted done: {ctx.workflow_id} on {ctx.deployment.id}, local={ctx.local}, "
    f"count={parameters['count']!r}"
)
"""

FLOWS_MODULE = """\
import os
import time

from cloudify.decorators import workflow
from cloudify.plugins import lifecycle
from cloudify.plugins.workflows import execute_operation
from cloudify.workflows import ctx as current


@workflow
def touch_all(ctx, label, **kwargs):
    assert current.execution_id == ctx.execution_id
    tasks = [
        instance.execute_operation("custom.touch", kwargs={"LABEL": label})
        for node in ctx.nodes
        for instance in node.instances
    ]
    for task in tasks:
        task.get()
    ctx.logger.info("touched %d instances", len(tasks))


@workflow
def graph_demo(ctx, **kwargs):
    graph = ctx.graph_mode()
    db = ctx.get_node("db").instances[0]
    app = ctx.get_node("app").instances[0]
    sequence = graph.sequence()
    sequence.add(
        db.set_state("configuring"),
        db.execute_operation("custom.touch", kwargs={"LABEL": "one"}),
        db.execute_operation("custom.touch", kwargs={"LABEL": "two"}),
        db.send_event("db is done"),
    )
    last = graph.add_task(app.execute_operation("custom.touch", kwargs={"LABEL": "three"}))
    graph.add_dependency(last, sequence.last)
    graph.execute()


@workflow
def failing_graph(ctx, **kwargs):
    graph = ctx.graph_mode()
    db = ctx.get_node("db").instances[0]
    graph.add_task(db.execute_operation("custom.touch", kwargs={"LABEL": "before"}))
    graph.add_task(db.execute_operation("custom.nothing_like_this"))
    graph.execute()


@workflow
def install_helpers(ctx, **kwargs):
    lifecycle.install_node_instances(ctx.graph_mode(), ctx.node_instances)
    ctx.graph.execute()


@workflow
def uninstall_helpers(ctx, **kwargs):
    lifecycle.uninstall_node_instances(ctx.graph_mode(), ctx.node_instances)
    ctx.graph.execute()


@workflow
def run_op(ctx, operation, **kwargs):
    execute_operation(ctx, operation, {"LABEL": "helper"}, run_by_dependency_order=True)


@workflow
def slow_flow(ctx, marker_dir, **kwargs):
    db = ctx.get_node("db").instances[0]
    db.execute_operation("custom.touch", kwargs={"LABEL": "first"}).get()
    db.execute_operation("custom.touch", kwargs={"LABEL": "second"}).get()
    with open(os.path.join(marker_dir, "bodies"), "a") as bodies:
        bodies.write(f"{os.getpid()}\\n")
    while not os.path.exists(os.path.join(marker_dir, "go")):
        time.sleep(0.1)
    db.execute_operation("custom.touch", kwargs={"LABEL": "third"}).get()
"""

PYPROJECT = """
[build-system]
requires = []
build-backend = "qd_backend"
backend-path = ["."]

[project]
name = "wfflows"
version = "1.0.0"
"""


def files() -> dict[str, str]:
    return {
        "blueprint.yaml": BLUEPRINT,
        "scripts/touch.py": TOUCH,
        "scripts/flow.py": FLOW_SCRIPT,
        "plugins/wfflows/pyproject.toml": PYPROJECT,
        "plugins/wfflows/qd_backend.py": BACKEND.read_text(),
        "plugins/wfflows/wfflows/__init__.py": FLOWS_MODULE,
    }


def read_touches(path: Path) -> list[tuple[str, str, str]]:
    """(instance, operation, label) of each operation run, in order."""
    if not path.exists():
        return []
    return [tuple(line.split()) for line in path.read_text().splitlines()]  # type: ignore[misc]
