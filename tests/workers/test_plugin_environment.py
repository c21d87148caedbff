"""Plugin code never sees the worker's settings: its token and the secret key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workers.helpers import RecordingCallbacks, make_context
from workers.runners import RunnerPool, worker_python
from workers.scripts import ScriptExecutor


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QD_SECRET_KEY", "never-for-plugins")
    monkeypatch.setenv("QD_WORKER_TOKEN", "never-for-plugins-either")


def test_scripts_do_not_see_quarterdeck_settings(secrets_in_env: None, tmp_path: Path) -> None:
    script = tmp_path / "show.sh"
    script.write_text('#!/bin/bash\nctx instance runtime-properties seen "$(env | grep -c ^QD_)"\n')
    context = make_context("script_runner.tasks.run", inputs={"script_path": "show.sh"})
    context["blueprint_dir"] = str(tmp_path)
    outcome = ScriptExecutor(tmp_path / "work").run(context, RecordingCallbacks())
    assert outcome["status"] == "succeeded", outcome
    (changes,) = outcome["runtime_properties"].values()
    # Only the ctx socket of this operation is visible, nothing of the worker's own.
    assert changes["runtime_properties"]["seen"] == "1"


def test_runner_processes_do_not_see_quarterdeck_settings(
    secrets_in_env: None, tmp_path: Path
) -> None:
    with RunnerPool(sdk_root=tmp_path / "sdk") as pool:
        context = make_context("os.getenv", inputs={"key": "QD_SECRET_KEY"})
        outcome = pool.run(worker_python(), context, RecordingCallbacks())
    assert outcome["status"] == "succeeded", outcome
    assert outcome["result"] is None
