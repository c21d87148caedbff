"""Plugin virtualenvs built for real with uv (and venv + pip), offline from local wheels."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.workers.conftest import PLUGINS, TENANT
from workers.venvs import (
    MARKER,
    PluginInstallError,
    VenvManager,
    file_lock,
    site_packages,
)

PLUGIN = {"name": "qdtestplugin", "package_name": "qdtestplugin", "package_version": "1.0.0"}


def python_says(python: str | Path, code: str) -> str:
    # cwd=/: `-c` puts the current directory on sys.path, and ours is the repository.
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    return done.stdout.strip()


def test_wagon_venv_is_ready_and_idempotent(
    venv_manager: VenvManager, plugin_python: str, wagon: Path
) -> None:
    venv = Path(plugin_python).parent.parent
    assert venv == venv_manager.plugin_dir(TENANT, "qdtestplugin", "1.0.0")
    marker = json.loads((venv / MARKER).read_text())
    assert marker["installer"] == "uv"
    started = time.monotonic()
    again = venv_manager.ensure_plugin(TENANT, PLUGIN, wagon)
    assert str(again) == plugin_python
    assert time.monotonic() - started < 0.1
    assert json.loads((venv / MARKER).read_text()) == marker
    # bytecode compiled at install time
    assert list((site_packages(venv) / "qdtestplugin").glob("__pycache__/*.pyc"))


def test_sdk_and_compat_are_importable_but_not_the_manager(plugin_python: str) -> None:
    code = (
        "import quarterdeck, cloudify, importlib.util as u; "
        "print(u.find_spec('manager') is None, u.find_spec('workers') is None)"
    )
    assert python_says(plugin_python, code) == "True True"


def test_waits_for_the_lock_of_another_builder(tmp_path: Path, wagon: Path) -> None:
    manager = VenvManager(tmp_path)
    venv = manager.plugin_dir(TENANT, "qdtestplugin", "1.0.0")
    result: list[Path] = []
    with file_lock(venv.with_name(venv.name + ".lock")):
        thread = threading.Thread(
            target=lambda: result.append(manager.ensure_plugin(TENANT, PLUGIN, wagon))
        )
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive() and not venv.exists()
    thread.join(60)
    assert result and manager.is_ready(venv)


def test_concurrent_processes_build_once(tmp_path: Path, wagon: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from workers.venvs import VenvManager; "
        f"print(VenvManager(Path({str(tmp_path)!r})).ensure_plugin("
        f"{TENANT!r}, {PLUGIN!r}, Path({str(wagon)!r})))"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for _ in range(3)
    ]
    outputs = {p.communicate(timeout=120)[0].strip() for p in processes}
    assert all(p.returncode == 0 for p in processes)
    assert len(outputs) == 1
    venv = Path(outputs.pop()).parent.parent
    builder = json.loads((venv / MARKER).read_text())["pid"]
    assert builder in {p.pid for p in processes}
    assert python_says(venv / "bin" / "python", "import qdtestplugin.tasks; print('ok')") == "ok"


def test_half_built_venv_is_rebuilt(tmp_path: Path, wagon: Path) -> None:
    manager = VenvManager(tmp_path)
    venv = manager.plugin_dir(TENANT, "qdtestplugin", "1.0.0")
    venv.mkdir(parents=True)
    (venv / "leftover").write_text("from a crashed build")
    manager.ensure_plugin(TENANT, PLUGIN, wagon)
    assert manager.is_ready(venv) and not (venv / "leftover").exists()


def test_install_failure_carries_the_installer_message(
    tmp_path: Path, plugin_wheels: dict[str, Path]
) -> None:
    manager = VenvManager(tmp_path)
    plugin = {"name": "qdbroken", "package_name": "qdbroken", "package_version": "1.0.0"}
    with pytest.raises(PluginInstallError) as caught:
        manager.ensure_plugin(TENANT, plugin, plugin_wheels["qdbroken"])
    assert "qd-missing-dependency" in str(caught.value)
    assert not manager.plugin_dir(TENANT, "qdbroken", "1.0.0").exists()


def test_url_source_is_refused_without_an_index(tmp_path: Path) -> None:
    plugin = {
        "name": "remote",
        "package_name": "remote",
        "package_version": "1.0",
        "source": "https://example.invalid/remote.zip",
    }
    with pytest.raises(PluginInstallError, match="is a URL.*configure a package index"):
        VenvManager(tmp_path).ensure_plugin(TENANT, plugin)


def test_bad_names_cannot_escape_the_base_dir(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid tenant"):
        VenvManager(tmp_path).plugin_dir("../etc", "x", "1")


def test_source_plugin_from_blueprint_is_per_deployment(
    tmp_path: Path, plugin_wheels: dict[str, Path]
) -> None:
    blueprint = tmp_path / "blueprint"
    source = blueprint / "plugins" / "qdtestplugin"
    shutil.copytree(PLUGINS / "qdtestplugin", source, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PLUGINS / "qd_backend.py", source)
    manager = VenvManager(tmp_path / "venvs", find_links=[plugin_wheels["qddep"].parent])
    plugin = {"name": "qdtestplugin", "source": "qdtestplugin"}
    python = manager.ensure_source_plugin(TENANT, "dep1", plugin, blueprint)
    assert python.parent.parent == manager.source_plugin_dir(TENANT, "dep1", "qdtestplugin", None)
    assert (
        python_says(python, "import qdtestplugin.tasks as t; print(t.dep_value())") == "from qddep"
    )


def test_pip_fallback_installs_a_wheel(tmp_path: Path, plugin_wheels: dict[str, Path]) -> None:
    manager = VenvManager(tmp_path, use_uv=False)
    plugin = {"name": "qddep", "package_name": "qddep", "package_version": "1.0.0"}
    python = manager.ensure_plugin(TENANT, plugin, plugin_wheels["qddep"])
    marker = json.loads((python.parent.parent / MARKER).read_text())
    assert marker["installer"] == "pip"
    assert python_says(python, "import qddep; print(qddep.VALUE)") == "from qddep"
