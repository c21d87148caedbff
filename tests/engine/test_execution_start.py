"""`POST /executions` never answers a finished execution, with a real API and worker: a
workflow with nothing to run is answered `started`, ends right after, and its events hold
its start and its end (so `cfy executions start`, which follows the events of an execution
it was told is not finished, prints them)."""

from __future__ import annotations

import uuid

from tests.engine.stack import Stack

FINAL = ("terminated", "failed", "cancelled")

BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {install_method: none}
  app:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.contained_in, target: vm}
"""


def _deployment(stack: Stack) -> str:
    name = f"start-{uuid.uuid4().hex[:6]}"
    stack.upload(name, {"blueprint.yaml": BLUEPRINT})
    stack.deploy(name, name)
    return name


def _answered_then_ended(stack: Stack, deployment_id: str, workflow: str, **parameters) -> None:
    answer = stack.execute(deployment_id, workflow, wait=False, **parameters)
    assert answer["status"] not in FINAL, answer
    execution = stack.wait(answer["id"])
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    kinds = [e.get("event_type") for e in stack.events(answer["id"])]
    assert kinds[0] == "workflow_started", kinds
    assert kinds[-1] == "workflow_succeeded", kinds


def test_stop_on_a_deployment_never_started_is_answered_started_then_ends(
    stack: Stack,
) -> None:
    _answered_then_ended(stack, _deployment(stack), "stop")


def test_a_scale_of_nothing_is_answered_started_then_ends(stack: Stack) -> None:
    name = _deployment(stack)
    _answered_then_ended(stack, name, "scale", scalable_entity_name="vm", delta=0)
