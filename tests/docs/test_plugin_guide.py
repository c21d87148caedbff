"""docs/plugin-guide.md, section 0, followed literally: its files are written and its shell
blocks run, in the document's order, against a real `quarterdeck serve` (API, worker,
Redis, SQLite). The plugin is packed with the real `wagon` tool, uploaded, and its operation
runs in an `install`.

The document marks what this test takes with an HTML comment before a fenced block:
`<!-- guide-test: file PATH -->` (write the block to PATH in the project directory) or
`<!-- guide-test: run -->` (run the block with bash in the project directory, stopping at the
first failing command). Unmarked blocks (the `export` of the manager's address, the `mkdir`
that makes the project directory) are what this test does itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.compat.cfy_harness import PASSWORD, Server, start_server

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugin-guide.md"
MARKED = re.compile(
    r"<!-- guide-test: (?P<kind>file|run)(?: (?P<path>\S+))? -->\n```[a-z]*\n(?P<body>.*?)```\n",
    re.DOTALL,
)
# Marks the test does not understand would be skipped silently: they fail instead.
ANY_MARK = re.compile(r"<!-- guide-test:")
STEP_TIMEOUT = 900


@dataclass(frozen=True)
class Step:
    kind: str  # "file" or "run"
    path: str | None
    body: str


def guide_steps(text: str) -> list[Step]:
    steps = [Step(m["kind"], m["path"], m["body"]) for m in MARKED.finditer(text)]
    assert len(steps) == len(ANY_MARK.findall(text)), "a guide-test mark is malformed"
    return steps


def test_the_guide_marks_a_whole_walk_through() -> None:
    """The walk-through writes the project's files, then packs, uploads and installs."""
    steps = guide_steps(GUIDE.read_text())
    files = {step.path for step in steps if step.kind == "file"}
    assert {"pyproject.toml", "setup.py", "plugin.yaml", "blueprint.yaml"} <= files
    commands = "\n".join(step.body for step in steps if step.kind == "run")
    for needed in ("wagon create", "/api/v3.1/plugins", '"workflow_id": "install"'):
        assert needed in commands, needed
    # The version lives in pyproject.toml only.
    plugin_yaml = next(step.body for step in steps if step.path == "plugin.yaml")
    assert "package_version" not in plugin_yaml


@pytest.fixture(scope="module")
def index_reachable(tmp_path_factory: pytest.TempPathFactory) -> None:
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "wagon==1.0.3", "-d",
         str(tmp_path_factory.mktemp("probe"))],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    missing = [tool for tool in ("bash", "curl", "zip") if shutil.which(tool) is None]
    if missing:
        reason = f"the guide's tools are not installed: {', '.join(missing)}"
        print(reason, file=sys.stderr)
        pytest.skip(reason)
    if probe.returncode != 0:
        reason = f"the package index cannot be reached (wagon not installable): {probe.stderr}"
        print(reason, file=sys.stderr)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server(index_reachable: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The machine may be loaded: a slow start is not what this test is about.
    running = start_server(tmp_path_factory.mktemp("serve"), ready_timeout=240)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
def test_following_the_guide_runs_the_plugin(server: Server, tmp_path: Path) -> None:
    # `python3` of the guide is this interpreter (the one on PATH may be another).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("QD_", "VIRTUAL_ENV", "PYTHON"))
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    # What the guide asks the reader to export.
    env["MANAGER"], env["PASSWORD"] = server.url, PASSWORD
    project = tmp_path / "my-plugin"
    project.mkdir()
    transcript = []
    for step in guide_steps(GUIDE.read_text()):
        if step.kind == "file":
            assert step.path is not None
            target = project / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.body)
            continue
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", step.body],
            cwd=project, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT,
        )  # fmt: skip
        transcript.append(f"$ {step.body}\n{done.stdout}{done.stderr}")
        assert done.returncode == 0, "\n".join(transcript[-1:]) + "\n" + server.logs()
    output = "\n".join(transcript)
    assert "install: terminated" in output, output + server.logs()
    assert '"url": "http://10.0.0.5:8443"' in output.replace('":"', '": "'), output

    # And the manager agrees: the install ended and the operation's result is stored.
    api = server.api()
    executions = api.get(
        "/executions", params={"deployment_id": "my-deployment", "workflow_id": "install"}
    ).json()["items"]
    assert [execution["status"] for execution in executions] == ["terminated"]
    instances = api.get("/node-instances", params={"deployment_id": "my-deployment"}).json()
    assert instances["items"][0]["runtime_properties"] == {"url": "http://10.0.0.5:8443"}
    plugins = api.get("/plugins", params={"package_name": "my-plugin"}).json()["items"]
    assert [plugin["package_version"] for plugin in plugins] == ["1.0.0"]
