"""Deployments of other deployments through real workers and the real API: blueprints with no
node templates, `cloudify.nodes.Component`, `SharedResource`, `PasswordSecret`, and what a
Python script can reach (`ctx.get_tenant()`, `get_rest_client()`, `requests`)."""

from __future__ import annotations

import uuid

from tests.engine.stack import Stack

EMPTY = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  name: {type: string, default: nobody}
outputs:
  greeting:
    value: {concat: ["hello ", {get_input: name}]}
capabilities:
  name:
    value: {get_input: name}
labels:
  kind:
    values: [empty]
"""


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_a_deployment_without_nodes_installs_and_uninstalls(stack: Stack) -> None:
    name = _id("empty")
    stack.upload(name, {"blueprint.yaml": EMPTY})
    stack.deploy(name, name, {"name": "world"})
    for workflow in ("install", "uninstall"):
        execution = stack.execute(name, workflow)
        assert execution["status"] == "terminated", execution["error"] + stack.logs()
