"""Executor routing with real workers: `host_agent` operations go to their host instance's
queue (`agent.<host instance id>`), which only `quarterdeck worker --agent <id>` consumes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from manager.db import Operation
from tests.engine.conftest import wait_for_watchdog_pass
from tests.engine.stack import Stack
from tests.support import wait_until

WHERE_PY = """\
import os

from cloudify import ctx

ctx.instance.runtime_properties["ran_on"] = os.environ.get("ROUTING_TEST_WORKER", "central")
"""

ROUTED = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {install_method: none}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/where.py
  app:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/where.py
          executor: host_agent
    relationships:
      - {type: cloudify.relationships.contained_in, target: vm}
"""


def _task_events(stack: Stack, execution_id: str, instance_id: str) -> list[str]:
    """`sending_task`, `task_started`, ... of one instance's operations, in order."""
    return [
        str(e.get("event_type"))
        for e in stack.events(execution_id)
        if e.get("node_instance_id") == instance_id
        and str(e.get("event_type")).startswith(("sending_task", "task_"))
    ]


def test_host_agent_operations_run_only_on_their_hosts_agent_worker(stack: Stack) -> None:
    name = f"routed-{uuid.uuid4().hex[:6]}"
    stack.upload(name, {"blueprint.yaml": ROUTED, "scripts/where.py": WHERE_PY})
    stack.deploy(name, name)
    by_node = {i["node_id"]: i["id"] for i in stack.instances(name).values()}
    vm, app = by_node["vm"], by_node["app"]

    execution = stack.execute(name, "install", wait=False)
    # The vm's own operation runs on the central worker; the app's waits for an agent.
    wait_until(
        lambda: "sending_task" in _task_events(stack, execution["id"], app),
        60,
        what="the app's operation to be sent (see the stack's logs)",
    )
    # Once the redelivery window has passed, the watchdog's next whole pass would publish
    # the operation again if it counted as lost: that must not reach the central worker.
    database = create_engine(stack.env["QD_DATABASE_URL"])
    try:
        with Session(database) as session:
            queued_at = session.scalar(
                select(Operation.queued_at).where(
                    Operation.execution_id == execution["id"],
                    Operation.node_instance_id == app,
                    Operation.state == "queued",
                )
            )
        assert queued_at is not None
        window = float(stack.env["QD_REDELIVERY_SECONDS"])
        interval = float(stack.env["QD_WATCHDOG_INTERVAL"])
        wait_for_watchdog_pass(database, queued_at + timedelta(seconds=window), interval)
    finally:
        database.dispose()
    assert "task_started" not in _task_events(stack, execution["id"], app)
    assert stack.client.get(f"/executions/{execution['id']}").json()["status"] == "started"

    # Operations get only the worker variables the operator names (QD_OPERATION_ENV).
    agent_env = {"ROUTING_TEST_WORKER": "agent", "QD_OPERATION_ENV": "ROUTING_TEST_WORKER"}
    stack.start_worker("--agent", vm, "--concurrency", "1", env=agent_env)
    execution = stack.wait(execution["id"], timeout=120)
    assert execution["status"] == "terminated", execution["error"] + stack.logs()
    instances = stack.instances(name)
    assert instances[vm]["runtime_properties"]["ran_on"] == "central"
    assert instances[app]["runtime_properties"]["ran_on"] == "agent"
