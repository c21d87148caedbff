"""Cloudify's local engine as the oracle for what runs: the same blueprint is installed and a
custom script workflow is run by cloudify-common 7.0.5's local engine (`cloudify.workflows.local`,
in the reference venv) and by Quarterdeck through the unmodified `cfy` 7.0.5; the scripts write
one trace line per operation, and both traces and the instances' runtime properties must match.

The blueprint is a corpus case (so its plan is compared by test_dsl_reference.py as well). The
module is skipped with the reason when cloudify-common or the CLI cannot be installed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.compat.cfy_harness import PASSWORD, Cfy, Server

from .conftest import CORPUS, REFERENCE_TIMEOUT, write_standard_types
from .reference_env import ReferenceUnavailable, reference_python

pytestmark = pytest.mark.slow

CASE = CORPUS / "local_install_and_workflow"
RUNNER = Path(__file__).parent / "local_runner.py"
RUNS = [
    {"workflow": "install", "parameters": {}},
    {"workflow": "maintain", "parameters": {"label": "weekly", "rounds": 2}},
]


def _trace_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o777)  # operations may run as the unprivileged operation user
    return root


def _local_engine(tmp: Path) -> tuple[list[str], dict[str, Any]]:
    """The trace and runtime properties by node after Cloudify's local engine ran RUNS."""
    try:
        python = reference_python()
    except ReferenceUnavailable as exc:
        pytest.skip(f"cloudify-common 7.0.5 (the local engine) is unavailable: {exc}")
    resources = tmp / "resources"
    write_standard_types(resources)
    trace = _trace_dir(tmp / "local") / "trace.txt"
    request = {
        "resources": str(resources),
        "blueprint": str(CASE / "blueprint.yaml"),
        "inputs": {"trace": str(trace)},
        "runs": RUNS,
    }
    (tmp / "request.json").write_text(json.dumps(request))
    done = subprocess.run(
        [str(python), str(RUNNER), str(tmp / "request.json"), str(tmp / "result.json")],
        capture_output=True,
        text=True,
        timeout=REFERENCE_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads((tmp / "result.json").read_text())
    assert "error" not in result, f"the local engine failed:\n{result['error']}"
    return trace.read_text().splitlines(), result["instances"]


def _quarterdeck(cfy_bin: Path, server: Server, tmp: Path) -> tuple[list[str], dict[str, Any]]:
    """The same runs through `cfy` against `quarterdeck serve`."""
    cfy = Cfy(cfy_bin, tmp / "home")
    cfy.run(
        "profiles", "use", "127.0.0.1", "-u", "admin", "-p", PASSWORD,
        "-t", "default_tenant", "--rest-port", str(server.port),
    )  # fmt: skip
    trace = _trace_dir(tmp / "ours") / "trace.txt"
    cfy.run("blueprints", "upload", "-b", "oracle", str(CASE / "blueprint.yaml"))
    cfy.run("deployments", "create", "oracle", "-b", "oracle", "-i", f"trace={trace}")
    for run in RUNS:
        args = [f"{key}={value}" for key, value in run["parameters"].items()]
        done = cfy.run(
            "executions", "start", run["workflow"], "-d", "oracle",
            *[part for arg in args for part in ("-p", arg)],
        )  # fmt: skip
        assert f"Finished executing workflow {run['workflow']}" in done.output, done
    instances: dict[str, Any] = {}
    for instance in cfy.json("node-instances", "list", "-d", "oracle"):
        shown = cfy.json("node-instances", "get", instance["id"])
        instances.setdefault(instance["node_id"], []).append(shown["runtime_properties"])
    return trace.read_text().splitlines(), instances


def test_install_and_a_script_workflow_run_as_in_the_local_engine(
    cfy_bin: Path, server: Server, tmp_path: Path
) -> None:
    local_trace, local_instances = _local_engine(tmp_path / "reference")
    our_trace, our_instances = _quarterdeck(cfy_bin, server, tmp_path / "quarterdeck")
    # The corpus blueprint orders everything (contained_in, connected_to, a sequential
    # workflow), so the traces match line for line.
    assert our_trace == local_trace
    assert our_instances == local_instances
    assert "client touch weekly-1" in our_trace  # the workflow's parameters arrived
