"""Fixtures for worker tests: test plugins built as real wheels and a wagon, real venvs."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from uv import find_uv_bin

from workers.runners import RunnerPool
from workers.venvs import VenvManager

PLUGINS = Path(__file__).parent / "plugins"
TENANT = "default_tenant"


def build_wheel(name: str, out_dir: Path, scratch: Path) -> Path:
    """`uv build` of a plugin under plugins/, with the stdlib backend copied beside it."""
    source = scratch / name
    shutil.copytree(PLUGINS / name, source, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PLUGINS / "qd_backend.py", source / "qd_backend.py")
    subprocess.run(
        [
            str(find_uv_bin()),
            "build",
            "--wheel",
            "--offline",
            "--quiet",
            "--out-dir",
            str(out_dir),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return next(out_dir.glob(f"{name}-*.whl"))


def build_wagon(package: str, version: str, wheels: list[Path], out_dir: Path) -> Path:
    top = out_dir / package
    (top / "wheels").mkdir(parents=True)
    for wheel in wheels:
        shutil.copy(wheel, top / "wheels" / wheel.name)
    (top / "package.json").write_text(
        json.dumps(
            {
                "package_name": package,
                "package_version": version,
                "supported_python_versions": ["py311"],
                "supported_platform": "any",
                "wheels": [w.name for w in wheels],
                "created_by_wagon_version": "1.0.1",
            }
        )
    )
    wagon = out_dir / f"{package}-{version}-py3-none-any.wgn"
    with tarfile.open(wagon, "w:gz") as archive:
        archive.add(top, arcname=package)
    shutil.rmtree(top)
    return wagon


@pytest.fixture(scope="session")
def plugin_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    scratch = tmp_path_factory.mktemp("plugin-src")
    return {name: build_wheel(name, out, scratch) for name in ("qdtestplugin", "qddep", "qdbroken")}


@pytest.fixture(scope="session")
def wagon(plugin_wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = [plugin_wheels["qdtestplugin"], plugin_wheels["qddep"]]
    return build_wagon("qdtestplugin", "1.0.0", wheels, tmp_path_factory.mktemp("wagon"))


@pytest.fixture(scope="session")
def venv_manager(tmp_path_factory: pytest.TempPathFactory) -> VenvManager:
    return VenvManager(tmp_path_factory.mktemp("venvs"))


@pytest.fixture(scope="session")
def plugin_python(venv_manager: VenvManager, wagon: Path) -> str:
    plugin = {"name": "qdtestplugin", "package_name": "qdtestplugin", "package_version": "1.0.0"}
    return str(venv_manager.ensure_plugin(TENANT, plugin, wagon))


@pytest.fixture(scope="session")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerPool]:
    with RunnerPool(max_runners=4, sdk_root=tmp_path_factory.mktemp("sdk")) as runner_pool:
        yield runner_pool
