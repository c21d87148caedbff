"""Operation contexts, built as a worker's claim builds them (operation_context.build_many)
on the app's database, whose sessions share what an execution's contexts read once: what
they show is what the rows hold, before and after a deployment update changes the nodes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import case, select

from manager.db import Deployment, Execution, Node, Operation
from manager.db.engine import Database
from manager.services import context_cache, operation_context
from manager.settings import Settings
from tests.api.uploads import upload

BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  marker_dir: {type: string}
  greeting: {type: string, default: hello}
node_types:
  marked:
    derived_from: cloudify.nodes.Root
    properties:
      greeting: {default: ""}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/mark.sh
          inputs: {MARKER_DIR: {default: {get_input: marker_dir}}}
relationships:
  linked:
    derived_from: cloudify.relationships.connected_to
    source_interfaces:
      cloudify.interfaces.relationship_lifecycle:
        establish:
          implementation: scripts/establish.sh
          inputs: {MARKER_DIR: {default: {get_input: marker_dir}}}
node_templates:
  db:
    type: marked
    properties: {greeting: {get_input: greeting}}
  web:
    type: marked
    relationships:
      - {type: linked, target: db}
"""
FILES = {"scripts/mark.sh": "#!/bin/sh\n", "scripts/establish.sh": "#!/bin/sh\n"}
# The columns a claim's rows carry (manager.orchestration.claims.mark_running), with the
# attempt a claim gives (operations not queued yet have attempt 0).
ROW_COLUMNS = (
    Operation.id,
    Operation.name,
    Operation.node_instance_id,
    Operation.parameters,
    case((Operation.attempt < 1, 1), else_=Operation.attempt).label("attempt"),
    Operation.queue,
    Operation.max_retries,
    Operation.timeout,
    Operation.started_at,
)


def _contexts(app: FastAPI, settings: Settings, execution_id: str) -> list[dict[str, Any]]:
    """The contexts of the execution's operations, in batches of two (each in a session
    of its own, as claims are), by node instance and operation name."""
    database: Database = app.state.db
    with database.transaction(write=False) as session:
        rows = list(
            session.execute(
                select(*ROW_COLUMNS)
                .where(Operation.execution_id == execution_id, Operation.type == "operation")
                .order_by(Operation.id)
            )
        )
    built: list[Any] = []
    for start in range(0, len(rows), 2):
        with database.transaction() as session:
            execution = session.get(Execution, execution_id)
            assert execution is not None
            claimed = [(row, execution) for row in rows[start : start + 2]]
            built += operation_context.build_many(session, settings, claimed)
    assert not [c for c in built if isinstance(c, operation_context.ContextError)], built
    return built


def _one(contexts: list[dict[str, Any]], node_id: str, operation: str) -> dict[str, Any]:
    (found,) = [
        c
        for c in contexts
        if c["node"]["id"] == node_id and c["operation"]["name"].endswith(operation)
    ]
    return found


def _wait(admin: TestClient, execution_id: str, states: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        execution = admin.get(f"/api/v3.1/executions/{execution_id}").json()
        # (A status not reached in time is for the caller's assertion to show.)
        if execution["status"] in states or time.monotonic() > deadline:
            return dict(execution)
        time.sleep(0.05)


def _cancel(admin: TestClient, execution_id: str) -> None:
    response = admin.post(f"/api/v3.1/executions/{execution_id}", json={"action": "force-cancel"})
    assert response.status_code == 200, response.text
    assert _wait(admin, execution_id, ("cancelled",))["status"] == "cancelled"


def _execute(admin: TestClient, deployment_id: str, workflow: str) -> str:
    response = admin.post(
        "/api/v3.1/executions", json={"deployment_id": deployment_id, "workflow_id": workflow}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_contexts_show_the_nodes_as_a_deployment_update_left_them(
    admin: TestClient, app: FastAPI, settings: Settings
) -> None:
    name = f"ctx-{uuid.uuid4().hex[:6]}"
    response = upload(admin, name, {"blueprint.yaml": BLUEPRINT, **FILES})
    assert response.status_code in (200, 201), response.text
    response = admin.put(
        f"/api/v3.1/deployments/{name}",
        json={"blueprint_id": name, "inputs": {"marker_dir": "/first", "greeting": "hello"}},
    )
    assert response.status_code in (200, 201), response.text
    # No worker runs here: the install's operations wait, and their contexts are built
    # (twice: the second time from what the first kept).
    install = _execute(admin, name, "install")
    first = _contexts(app, settings, install)
    assert _contexts(app, settings, install) == first
    create = _one(first, "db", "lifecycle.create")
    assert create["node"]["properties"]["greeting"] == "hello"
    assert create["inputs"]["MARKER_DIR"] == "/first"
    assert create["implementation"] == "scripts/mark.sh"
    establish = _one(first, "web", "relationship_lifecycle.establish")
    assert establish["inputs"]["MARKER_DIR"] == "/first"
    assert establish["target"]["node"]["properties"]["greeting"] == "hello"
    _cancel(admin, install)

    response = admin.post(
        f"/api/v3.1/deployment-updates/{name}/update/initiate",
        json={"inputs": {"marker_dir": "/second", "greeting": "bye"}},
    )
    assert response.status_code == 200, response.text
    update = response.json()
    # The update's own execution (re)creates db, with what the update changed.
    during = _contexts(app, settings, update["execution_id"])
    create = _one(during, "db", "lifecycle.create")
    assert create["node"]["properties"]["greeting"] == "bye"
    assert create["inputs"]["MARKER_DIR"] == "/second"
    _cancel(admin, update["execution_id"])

    # And so does any execution after it.
    again = _contexts(app, settings, _execute(admin, name, "install"))
    create = _one(again, "db", "lifecycle.create")
    assert create["node"]["properties"]["greeting"] == "bye"
    assert create["inputs"]["MARKER_DIR"] == "/second"
    establish = _one(again, "web", "relationship_lifecycle.establish")
    assert establish["inputs"]["MARKER_DIR"] == "/second"
    assert establish["target"]["node"]["properties"]["greeting"] == "bye"


def test_an_operation_is_read_as_the_whole_column_holds_it(admin: TestClient, app: FastAPI) -> None:
    """Each operation a context runs is read on its own (through the database's JSON path
    operators), or from the whole column for a name those cannot spell: the same either
    way, and nothing for an operation the node does not have."""
    name = f"ctx-{uuid.uuid4().hex[:6]}"
    response = upload(admin, name, {"blueprint.yaml": BLUEPRINT, **FILES})
    assert response.status_code in (200, 201), response.text
    response = admin.put(
        f"/api/v3.1/deployments/{name}", json={"blueprint_id": name, "inputs": {"marker_dir": "/m"}}
    )
    assert response.status_code in (200, 201), response.text
    database: Database = app.state.db
    with database.transaction(write=False) as session:
        deployment = session.scalars(select(Deployment).where(Deployment.id == name)).one()
        nodes = {
            n.id: n
            for n in session.scalars(select(Node).where(Node.deployment_pk == deployment.pk))
        }
        shared = context_cache.Shared(deployment.pk, name, None, 0, "", name, "", None)
        context_cache.load_nodes(session, shared, {"db"})
        assert shared.nodes.keys() == {"db", "web"}  # (all of them, the first time)
        names = ["cloudify.interfaces.lifecycle.create", "cloudify.interfaces.lifecycle.stop"]
        names += ['no "such"', "no\\such", "nosuch"]
        context_cache.load_operations(session, shared, {("db", n) for n in names})
        context_cache.load_relationships(session, shared, {("web", 0), ("web", 1)})
    for operation in names:
        assert shared.nodes["db"].operations[operation] == nodes["db"].operations.get(operation)
    create = shared.nodes["db"].operations[names[0]]
    assert create is not None and create["implementation"] == "scripts/mark.sh"
    assert shared.nodes["db"].operations["nosuch"] is None
    assert shared.nodes["web"].relationships == {0: nodes["web"].relationships[0], 1: None}


def test_the_sessions_of_one_database_share_one_cache(app: FastAPI, tmp_path: Path) -> None:
    """Contexts of one execution read the deployment's nodes once per database (the app's
    sessions share the cache) and never through another database's cache."""
    database: Database = app.state.db
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with database.session() as a, database.session(write=False) as b, other.session() as c:
            assert context_cache.of(a) is context_cache.of(b)
            assert context_cache.of(a) is not context_cache.of(c)
    finally:
        other.dispose()
