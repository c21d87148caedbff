"""Plugin virtualenvs built for real with uv (and venv + pip), offline from local wheels."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import operation_python
from tests.workers.conftest import PLUGINS, TENANT
from workers.isolation import Sandbox, operation_sandbox
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


OPERATION_USER = "quarterdeck-op"


@pytest.fixture
def operation_user_base() -> Iterator[tuple[Path, Sandbox]]:
    """A venv base directory the operation user can pass through (pytest's temporary
    directory is 0700), and the sandbox of a root worker."""
    if os.geteuid() != 0:
        pytest.skip("not root: builds run as the worker's own user")
    python = operation_python()
    if python is None:
        pytest.skip("no Python interpreter the operation user can run")
    sandbox = operation_sandbox(OPERATION_USER, python=python, create=True)
    root = Path(tempfile.mkdtemp(prefix="qd-venvs-"))
    os.chmod(root, 0o711)
    try:
        yield root / "venvs", sandbox
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_root_workers_build_runs_as_the_operation_user_and_is_handed_back(
    operation_user_base: tuple[Path, Sandbox], wagon: Path, plugin_wheels: dict[str, Path]
) -> None:
    base, sandbox = operation_user_base
    # The archives stay where the worker keeps them, private to it: the build gets copies.
    private = base.parent / "plugin-archives"
    private.mkdir(mode=0o700)
    wheel = Path(shutil.copy(plugin_wheels["qddep"], private))
    manager = VenvManager(base, sandbox=sandbox)
    built = [
        manager.ensure_plugin(TENANT, PLUGIN, Path(shutil.copy(wagon, private))),
        manager.ensure_plugin(
            TENANT, {"name": "qddep", "package_name": "qddep", "package_version": "1.0.0"}, wheel
        ),
    ]
    assert python_says(built[0], "import qdtestplugin.tasks; print('ok')") == "ok"
    assert python_says(built[1], "import qddep; print(qddep.VALUE)") == "from qddep"
    for python in built:
        venv = python.parent.parent
        assert json.loads((venv / MARKER).read_text())["built_as"] == OPERATION_USER
        for path in [venv, *venv.rglob("*")]:
            info = path.lstat()
            assert info.st_uid == os.getuid(), path
            if not path.is_symlink():
                assert info.st_mode & 0o7022 == 0, (path, oct(info.st_mode))
        assert not list(venv.parent.glob(".build-*"))
    # What the operation user may do with it: run it, not change it.
    as_user = subprocess.run(
        [str(built[0]), "-c", "import sys; open(sys.prefix + '/planted', 'w')"],
        capture_output=True,
        text=True,
        cwd="/",
        **sandbox.popen_options(),
    )
    assert "PermissionError" in as_user.stderr, as_user.stderr


def test_a_failed_build_as_the_operation_user_says_so(
    operation_user_base: tuple[Path, Sandbox], plugin_wheels: dict[str, Path]
) -> None:
    base, sandbox = operation_user_base
    manager = VenvManager(base, sandbox=sandbox)
    plugin = {"name": "qdbroken", "package_name": "qdbroken", "package_version": "1.0.0"}
    with pytest.raises(PluginInstallError) as caught:
        manager.ensure_plugin(TENANT, plugin, plugin_wheels["qdbroken"])
    message = str(caught.value)
    assert f"as the operation user {OPERATION_USER}" in message
    assert "qd-missing-dependency" in message
    venv = manager.plugin_dir(TENANT, "qdbroken", "1.0.0")
    assert not venv.exists() and not list(venv.parent.glob(".build-*"))
    assert pwd.getpwnam(OPERATION_USER).pw_uid == sandbox.uid
