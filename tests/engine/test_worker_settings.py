"""A worker needs its token, the API and the broker: no secret key and no database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from manager.settings import Settings
from tests.conftest import BACKENDS
from tests.engine.conftest import own_stack
from tests.support import without_settings

pytestmark = pytest.mark.slow

BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  thing:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: scripts/create.sh
"""
CREATE = "#!/bin/sh\nctx instance runtime-properties created yes\n"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_worker_with_only_token_api_and_broker_runs_operations(
    backend: str, tmp_path: Path, redis_url: str
) -> None:
    if backend not in BACKENDS:
        pytest.skip("QD_TEST_DATABASE_URL is not set")
    with own_stack(backend, tmp_path, redis_url) as stack:
        stack.start_api()
        token = Settings(secret_key=stack.env["QD_SECRET_KEY"]).resolved_worker_token
        env = without_settings()
        env.update(
            {
                "QD_WORKER_TOKEN": token,
                "QD_API_URL": stack.url,
                "QD_BROKER_URL": stack.redis_url,
            }
        )
        # Its data directory is the default, ./.quarterdeck of where it runs.
        home = tmp_path / "worker"
        home.mkdir()
        log = (tmp_path / "bare-worker.log").open("ab")
        worker = subprocess.Popen(
            [sys.executable, "-m", "manager.cli", "worker", "--concurrency", "1"],
            env=env,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.workers.append(worker)
        stack.upload("bare", {"blueprint.yaml": BLUEPRINT, "scripts/create.sh": CREATE})
        stack.deploy("bare", "bare")
        execution = stack.execute("bare", "install", wait=True)
        assert execution["status"] == "terminated", execution["error"] + stack.logs()
        (instance,) = stack.instances("bare").values()
        assert instance["runtime_properties"] == {"created": "yes"}


def test_a_worker_without_a_token_says_which_setting_is_missing(tmp_path: Path) -> None:
    env = without_settings()
    env.update({"QD_API_URL": "http://127.0.0.1:9", "QD_BROKER_URL": "redis://127.0.0.1:9/0"})
    done = subprocess.run(
        [sys.executable, "-m", "manager.cli", "worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "QD_WORKER_TOKEN" in done.stderr
