"""The unmodified `cfy` 7.0.5 starts a workflow that has nothing to run (`stop` on a
deployment never installed) and prints its events: `POST /executions` answers a started
execution, never a finished one, so the CLI follows the execution's events to its end.
Skipped, with the reason, where `cloudify==7.0.5` cannot be installed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.compat.cfy_harness import PASSWORD, Cfy, Server, write_tree

pytestmark = pytest.mark.slow

BLUEPRINT = """\
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/7.0.0/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {install_method: none}
"""


def test_cfy_prints_the_events_of_a_workflow_with_nothing_to_run(
    cfy_bin: Path, server: Server, tmp_path: Path
) -> None:
    cfy = Cfy(cfy_bin, tmp_path / "home")
    cfy.run(
        "profiles", "use", "127.0.0.1", "-u", "admin", "-p", PASSWORD,
        "-t", "default_tenant", "--rest-port", str(server.port),
    )  # fmt: skip
    name = f"empty-{uuid.uuid4().hex[:6]}"
    write_tree(tmp_path / "bp", {"blueprint.yaml": BLUEPRINT})
    cfy.run("blueprints", "upload", str(tmp_path / "bp" / "blueprint.yaml"), "-b", name)
    cfy.run("deployments", "create", name, "-b", name)

    stop = cfy.run("executions", "start", "stop", "-d", name)
    for expected in (
        f"CFY <{name}> Starting 'stop' workflow execution",
        f"CFY <{name}> 'stop' workflow execution succeeded",
        f"Finished executing workflow stop on deployment {name}",
    ):
        assert expected in stop.output, f"{expected!r} missing:\n{stop}"
