"""The compose file: the services an operator needs, validated by docker compose itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "POSTGRES_PASSWORD": "p",
    "QD_SECRET_KEY": "k",
    "QD_ADMIN_PASSWORD": "a",
    "QD_WORKER_TOKEN": "w",
    "PATH": "/usr/bin:/bin",
}


def test_compose_declares_the_production_layout() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "api", "worker"}
    for name in services:
        assert "healthcheck" in services[name], name
    assert services["api"]["command"][:2] == ["quarterdeck", "api"]
    assert services["worker"]["command"][:2] == ["quarterdeck", "worker"]
    # Workers scale with --scale worker=N, so they must not pin names or ports.
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    assert set(compose["volumes"]) == {"postgres-data", "files"}
    # Load balancers and compose wait on readiness (database and broker), not on liveness.
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_workers_share_no_files_with_the_api() -> None:
    """Workers fetch resources and plugins over HTTP: the API's volume (uploaded files of
    every tenant, secrets.json) is not theirs to read."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert "volumes" not in services["worker"]
    assert services["api"]["volumes"] == ["files:/data"]


def test_workers_get_their_token_and_none_of_the_managers_secrets() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    worker = services["worker"]["environment"]
    assert set(worker) == {"QD_BROKER_URL", "QD_API_URL", "QD_WORKER_TOKEN", "QD_DATA_DIR"}
    assert not any("POSTGRES_PASSWORD" in str(value) for value in worker.values())
    # The API checks the same token; the worker drops to the image's operation user.
    assert services["api"]["environment"]["QD_WORKER_TOKEN"] == worker["QD_WORKER_TOKEN"]
    assert services["worker"]["user"] == "root"
    assert "quarterdeck-op" in (ROOT / "Dockerfile").read_text()


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=ENV,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_run_without_secrets() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr or "QD_SECRET_KEY" in result.stderr
