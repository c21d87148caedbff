"""Labels, deployment groups and execution groups driven by the unmodified `cfy` 7.0.5.

The module starts its own `quarterdeck serve` (like test_cfy_cli.py) and is skipped with the
reason when `cloudify==7.0.5` cannot be installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.cfy_harness import Cfy, Server, write_tree

pytestmark = pytest.mark.slow

FLEET = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/7.0.0/types.yaml
inputs:
  marker_dir: {type: string}
blueprint_labels:
  kind:
    values: [fleet]
labels:
  fleet:
    values: [blue]
deployment_settings:
  default_groups: [all-fleet]
node_templates:
  box:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/mark.sh
          inputs:
            MARKER_DIR: {get_input: marker_dir}
            DEPLOYMENT: {get_sys: [deployment, id]}
"""

MARK = """#!/bin/bash
set -e
touch "$MARKER_DIR/$DEPLOYMENT.installed"
"""


def test_labels_groups_and_an_execution_group(cfy: Cfy, server: Server, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    markers.chmod(0o777)  # operations may run as the unprivileged operation user
    source = write_tree(tmp_path / "fleet", {"blueprint.yaml": FLEET, "scripts/mark.sh": MARK})
    cfy.run("blueprints", "upload", "-b", "fleet", str(source / "blueprint.yaml"))
    blueprints = cfy.json("blueprints", "list", "--labels-rule", "kind=fleet")
    assert [b["id"] for b in blueprints] == ["fleet"]
    for name, env in (("web", "prod"), ("db", "prod"), ("lab", "dev")):
        cfy.run(
            "deployments", "create", name, "-b", "fleet",
            "-i", f"marker_dir={markers}", "--labels", f"env:{env}",
        )  # fmt: skip

    # Labels from the command line and from the YAML, and filtering by them.
    prod = cfy.json("deployments", "list", "--labels-rule", "env=prod")
    assert sorted(d["id"] for d in prod) == ["db", "web"]
    blue = cfy.json("deployments", "list", "-lr", "fleet=blue")
    assert sorted(d["id"] for d in blue) == ["db", "lab", "web"]
    labels = cfy.run("deployments", "labels", "list", "web").output
    assert "env" in labels and "prod" in labels and "fleet" in labels and "blue" in labels
    cfy.run("deployments", "labels", "add", "team:red", "lab")
    cfy.run("deployments", "labels", "delete", "fleet:blue", "lab")
    with server.api() as api:
        lab = api.get("/deployments/lab").json()
        assert sorted((x["key"], x["value"]) for x in lab["labels"]) == [
            ("env", "dev"),
            ("team", "red"),
        ]
        assert api.get("/labels/deployments/team").json()["items"] == ["red"]

    # deployment_settings.default_groups put every deployment in `all-fleet`.
    groups = cfy.run("deployments", "groups", "list").output
    assert "all-fleet" in groups, groups

    cfy.run("deployments", "groups", "create", "prod-fleet", "--description", "production")
    extended = cfy.run("deployments", "groups", "extend", "prod-fleet", "--labels-rule", "env=prod")
    assert "It now contains 2 deployments" in extended.output, extended
    in_group = cfy.json("deployments", "list", "-g", "prod-fleet")
    assert sorted(d["id"] for d in in_group) == ["db", "web"]

    started = cfy.run(
        "executions", "groups", "start", "-g", "prod-fleet", "install", "--concurrency", "1",
        timeout=300,
    )  # fmt: skip
    assert "Finished executing workflow install on deployment group prod-fleet" in (
        started.output
    ), started
    assert sorted(p.name for p in markers.iterdir()) == ["db.installed", "web.installed"]

    listed = cfy.json("executions", "groups", "list")
    assert [(g["workflow_id"], g["deployment_group"]) for g in listed] == [
        ("install", "prod-fleet")
    ]
    with server.api() as api:
        group = api.get("/execution-groups").json()["items"][0]
        assert group["status"] == "terminated"
        assert group["concurrency"] == 1
        for deployment_id in ("web", "db"):
            deployment = api.get(f"/deployments/{deployment_id}").json()
            assert deployment["latest_execution_status"] == "completed"
            assert deployment["deployment_groups"] == ["all-fleet", "prod-fleet"]
