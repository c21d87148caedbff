"""`cfy deployments update`, `get-update` and `history` (the unmodified CLI 7.0.5) against a
real `quarterdeck serve`: a running deployment gets a fixed script without being deleted."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from tests.compat.cfy_harness import Cfy, Server, write_tree
from tests.engine.test_deployment_updates import BEFORE, FILES, FIXED

pytestmark = pytest.mark.slow


def test_update_a_running_deployment_and_list_its_history(
    cfy: Cfy, server: Server, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    first, fixed, deployment = f"app-{suffix}", f"app-fixed-{suffix}", f"dep-{suffix}"
    markers = tmp_path / "markers"
    markers.mkdir()
    markers.chmod(0o777)  # (operations may run as the unprivileged operation user)
    before = write_tree(tmp_path / "before", {"blueprint.yaml": BEFORE, **FILES})
    after = write_tree(tmp_path / "after", {"blueprint.yaml": FIXED, **FILES})
    cfy.run("blueprints", "upload", str(before / "blueprint.yaml"), "-b", first)
    cfy.run("blueprints", "upload", str(after / "blueprint.yaml"), "-b", fixed)
    cfy.run("deployments", "create", deployment, "-b", first, "-i", f"marker_dir={markers}")
    cfy.run("executions", "start", "install", "-d", deployment)
    instances = cfy.json("node-instances", "list", "-d", deployment)
    web = next(i["id"] for i in instances if i["node_id"] == "web")
    configured = markers / f"{web}.configured"
    assert configured.read_text().split() == ["v1"]

    result = cfy.run("deployments", "update", deployment, "-b", fixed)
    assert f"Updating deployment {deployment}, using blueprint {fixed}" in result.output, result
    assert f"Finished executing workflow 'update' on deployment '{deployment}'" in (
        result.output
    ), result
    found = re.search(
        rf"Successfully updated deployment {deployment}\. Deployment update id: (\S+)\. "
        r"Execution id: (\S+)",
        result.output,
    )
    assert found, result
    update_id = found.group(1)
    assert configured.read_text().split() == ["v1", "v2"]
    shown = server.api().get(f"/deployments/{deployment}").json()
    assert shown["blueprint_id"] == fixed

    inputs = cfy.run("deployments", "update", deployment, "-i", "greeting=bonjour")
    assert "Successfully updated deployment" in inputs.output, inputs

    history = cfy.run("deployments", "history", "-d", deployment)
    assert update_id in history.output and "successful" in history.output, history
    assert "Showing 2 of 2 deployment updates" in history.output, history

    details = cfy.run("deployments", "get-update", update_id)
    assert "nodes: web: operations: cloudify.interfaces.lifecycle.configure" in (details.output), (
        details
    )
    assert "Automatically detected nodes to reinstall" in details.output, details
