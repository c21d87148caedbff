"""Execution groups through real workers: a workflow started on every deployment of a
deployment group runs at most `concurrency` executions at once, and the group's status
follows its executions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from tests.engine.conftest import wait_for_watchdog_pass
from tests.engine.stack import END_STATES, Stack
from tests.support import wait_until

# Each install's one operation says it started, then waits for the test to release it.
GATED = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  marker_dir: {type: string}
  outcome: {type: string, default: succeed}
labels:
  fleet:
    values: [gated]
node_templates:
  gate:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/gate.sh
          inputs: {MARKER_DIR: {get_input: marker_dir}, OUTCOME: {get_input: outcome}}
"""

GATE_SCRIPT = """#!/bin/bash
set -e
id=$(ctx instance id)
touch "$MARKER_DIR/$id.started"
while [ ! -e "$MARKER_DIR/release" ]; do sleep 0.05; done
if [ "$OUTCOME" = "fail" ]; then
  ctx abort-operation "asked to fail"
  exit 1
fi
"""

GATED_FILES = {"blueprint.yaml": GATED, "scripts/gate.sh": GATE_SCRIPT}


def _fleet(stack: Stack, markers: Path, count: int, **inputs: Any) -> tuple[str, list[str]]:
    """A blueprint, `count` deployments of it, and a deployment group holding them (found
    by their YAML label and their blueprint)."""
    name = f"grp-{uuid.uuid4().hex[:6]}"
    stack.upload(name, GATED_FILES)
    deployments = [f"{name}-{i}" for i in range(count)]
    for deployment_id in deployments:
        stack.deploy(name, deployment_id, {"marker_dir": str(markers), **inputs})
    rules = [
        {"key": "fleet", "values": ["gated"], "operator": "any_of", "type": "label"},
        {"key": "blueprint_id", "values": [name], "operator": "any_of", "type": "attribute"},
    ]
    created = stack.client.put(f"/deployment-groups/{name}", json={"filter_rules": rules})
    assert created.status_code == 200, created.text
    assert created.json()["deployment_ids"] == deployments
    return name, deployments


def _start(stack: Stack, group_id: str, concurrency: int) -> dict[str, Any]:
    response = stack.client.post(
        "/execution-groups",
        json={
            "deployment_group_id": group_id,
            "workflow_id": "install",
            "concurrency": concurrency,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _group(stack: Stack, group_id: str) -> dict[str, Any]:
    return stack.client.get(f"/execution-groups/{group_id}").json()  # type: ignore[no-any-return]


def _statuses(stack: Stack, group: dict[str, Any]) -> dict[str, str]:
    found = {}
    for execution_id in group["execution_ids"]:
        execution = stack.client.get(f"/executions/{execution_id}").json()
        found[execution["deployment_id"]] = execution["status"]
    return found


def _wait_for_group(stack: Stack, group_id: str) -> dict[str, Any]:
    return wait_until(  # type: ignore[return-value]
        lambda: (g := _group(stack, group_id))["status"] in END_STATES and g,
        120,
        what=f"execution group {group_id} to end\n{stack.logs()}",
    )


def test_a_group_runs_within_its_concurrency_and_ends_terminated(
    stack: Stack, tmp_path: Path
) -> None:
    group_id, deployments = _fleet(stack, tmp_path, 3)
    group = _start(stack, group_id, concurrency=2)
    assert group["deployment_group_id"] == group_id
    assert group["workflow_id"] == "install"
    assert len(group["execution_ids"]) == 3

    wait_until(
        lambda: len(list(tmp_path.glob("*.started"))) == 2,
        60,
        what=f"two gated operations to start\n{stack.logs()}",
    )
    # A whole watchdog pass after both started would have started the third execution if
    # the group's concurrency did not hold it back.
    database = create_engine(stack.env["QD_DATABASE_URL"])
    try:
        interval = float(stack.env["QD_WATCHDOG_INTERVAL"])
        wait_for_watchdog_pass(database, datetime.now(UTC), interval)
    finally:
        database.dispose()
    assert len(list(tmp_path.glob("*.started"))) == 2
    statuses = _statuses(stack, group)
    assert sorted(statuses.values()) == ["queued", "started", "started"], statuses
    assert _group(stack, group["id"])["status"] == "started"
    listed = stack.client.get("/execution-groups", params={"deployment_group_id": group_id})
    assert [g["id"] for g in listed.json()["items"]] == [group["id"]]

    (tmp_path / "release").touch()
    ended = _wait_for_group(stack, group["id"])
    assert ended["status"] == "terminated", _statuses(stack, group)
    assert set(_statuses(stack, group).values()) == {"terminated"}
    assert len(list(tmp_path.glob("*.started"))) == 3
    for deployment_id in deployments:
        installed = stack.client.get(f"/deployments/{deployment_id}").json()
        assert installed["latest_execution_status"] == "completed"

    # The group's executions and events are listed by its id.
    executions = stack.client.get("/executions", params={"execution_group_id": group["id"]})
    assert sorted(e["id"] for e in executions.json()["items"]) == sorted(group["execution_ids"])
    events = stack.client.get(
        "/events", params={"execution_group_id": group["id"], "_size": 10000}
    ).json()["items"]
    assert {e["execution_id"] for e in events} == set(group["execution_ids"])


def test_a_failed_member_fails_the_group_and_targets_sort_deployments(
    stack: Stack, tmp_path: Path
) -> None:
    group_id, deployments = _fleet(stack, tmp_path, 1)
    failing = f"{group_id}-bad"
    stack.deploy(group_id, failing, {"marker_dir": str(tmp_path), "outcome": "fail"})
    added = stack.client.patch(
        f"/deployment-groups/{group_id}", json={"add": {"deployment_ids": [failing]}}
    )
    assert added.json()["deployment_ids"] == sorted([*deployments, failing])
    for target in ("ok", "bad"):
        labels = [{"outcome": target}]
        created = stack.client.put(
            f"/deployment-groups/{group_id}-{target}", json={"labels": labels}
        )
        assert created.status_code == 200, created.text
    group = _start(stack, group_id, concurrency=2)
    # Target groups set while the executions run receive their deployments as they end.
    updated = stack.client.patch(
        f"/execution-groups/{group['id']}",
        json={"success_group_id": f"{group_id}-ok", "failure_group_id": f"{group_id}-bad"},
    )
    assert updated.status_code == 200, updated.text
    (tmp_path / "release").touch()
    ended = _wait_for_group(stack, group["id"])
    assert ended["status"] == "failed"
    assert _statuses(stack, group) == {deployments[0]: "terminated", failing: "failed"}
    ok = stack.client.get(f"/deployment-groups/{group_id}-ok").json()
    bad = stack.client.get(f"/deployment-groups/{group_id}-bad").json()
    assert (ok["deployment_ids"], bad["deployment_ids"]) == (deployments, [failing])
    failed_labels = stack.client.get(f"/deployments/{failing}").json()["labels"]
    assert {"key": "outcome", "value": "bad"}.items() <= failed_labels[-1].items()

    # Resuming runs the failed execution again; it fails again, and so does the group.
    resumed = stack.client.post(f"/execution-groups/{group['id']}", json={"action": "resume"})
    assert resumed.status_code == 200, resumed.text
    wait_until(
        lambda: _statuses(stack, group)[failing] in END_STATES,
        120,
        what=f"the resumed execution to end\n{stack.logs()}",
    )
    assert _wait_for_group(stack, group["id"])["status"] == "failed"


def test_cancelling_a_group_cancels_its_queued_executions(stack: Stack, tmp_path: Path) -> None:
    group_id, deployments = _fleet(stack, tmp_path, 2)
    group = _start(stack, group_id, concurrency=1)
    wait_until(
        lambda: len(list(tmp_path.glob("*.started"))) == 1,
        60,
        what=f"the first gated operation to start\n{stack.logs()}",
    )
    cancelled = stack.client.post(f"/execution-groups/{group['id']}", json={"action": "cancel"})
    assert cancelled.status_code == 200, cancelled.text
    statuses = _statuses(stack, group)
    assert sorted(statuses.values()) == ["cancelled", "cancelling"], statuses
    (tmp_path / "release").touch()
    ended = _wait_for_group(stack, group["id"])
    assert set(_statuses(stack, group).values()) <= {"cancelled", "terminated"}
    assert ended["status"] == "terminated"
    assert len(list(tmp_path.glob("*.started"))) == 1


def test_a_group_start_is_refused_whole(stack: Stack, tmp_path: Path) -> None:
    group_id, _ = _fleet(stack, tmp_path, 2)
    response = stack.client.post(
        "/execution-groups", json={"deployment_group_id": group_id, "workflow_id": "nope"}
    )
    assert response.status_code == 400, response.text
    assert "nope" in response.json()["message"]
    assert response.json()["error_code"] == "nonexistent_workflow_error"
    listed = stack.client.get("/execution-groups", params={"deployment_group_id": group_id})
    assert listed.json()["items"] == []
    negative = stack.client.post(
        "/execution-groups",
        json={"deployment_group_id": group_id, "workflow_id": "install", "concurrency": -1},
    )
    assert negative.status_code == 400
    assert "concurrency" in negative.text
