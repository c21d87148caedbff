"""Per-plugin virtualenvs: create with uv (or venv+pip), install offline, lock, mark ready.

Layout under `base_dir` (mirrors Cloudify's, plugin-dispatch.md §11):
  plugins/<tenant>/<package_name>/<package_version>/          managed plugins (wagons, wheels)
  source_plugins/<tenant>/<deployment>/<name>/<version>/      plugins from a blueprint's plugins/
  .sdk/quarterdeck -> the SDK package                         put on each venv's sys.path
A venv is usable only once its marker file exists; the marker is written last, under an
exclusive flock on `<venv>.lock`, so a half-built venv (crash, full disk) is rebuilt.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import quarterdeck

MARKER = ".quarterdeck-venv.json"
SDK_PACKAGE_DIR = Path(quarterdeck.__file__).resolve().parent
# Holds only the `cloudify` compatibility package; added to venvs without cloudify-common.
COMPAT_DIR = Path(__file__).resolve().parent / "sdk_compat"
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")  # fullmatch: `$` allows a final newline
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class PluginInstallError(Exception):
    """Creating a venv or installing into it failed; the message holds the tool's output."""


def ensure_sdk_dir(root: Path) -> Path:
    """A directory holding only the `quarterdeck` package (a symlink to it), for sys.path.

    The repository root would also expose `manager` and `workers` to plugin code.
    """
    root.mkdir(parents=True, exist_ok=True)
    link = root / "quarterdeck"
    if not (link.is_symlink() and link.resolve() == SDK_PACKAGE_DIR):
        temporary = root / f".quarterdeck.{os.getpid()}.{threading.get_ident()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(SDK_PACKAGE_DIR, target_is_directory=True)
        os.replace(temporary, link)  # atomic, so concurrent workers never see it missing
    return root


def find_uv() -> str | None:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock (flock also excludes other threads: one fd each)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _component(value: Any, what: str) -> str:
    text = str(value)
    if not _SAFE.fullmatch(text):
        raise ValueError(f"invalid {what} for a venv path: {text!r}")
    return text


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise PluginInstallError(f"{venv} has no site-packages directory")
    return found[-1]


def is_url(source: str | None) -> bool:
    return bool(source and _URL.match(source))


class VenvManager:
    """Creates and finds plugin virtualenvs. Safe across threads and processes."""

    def __init__(
        self,
        base_dir: Path,
        python: str | None = None,
        find_links: Sequence[Path] = (),
        index_url: str | None = None,
        use_uv: bool = True,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.python = python or sys.executable
        self.find_links = [Path(p) for p in find_links]
        self.index_url = index_url
        self.uv = find_uv() if use_uv else None

    # where venvs live -----------------------------------------------------------------------
    def plugin_dir(self, tenant: str, package_name: str, package_version: str | None) -> Path:
        return (
            self.base_dir
            / "plugins"
            / _component(tenant, "tenant")
            / _component(package_name, "package name")
            / _component(package_version or "0.0.0", "package version")
        )

    def source_plugin_dir(
        self, tenant: str, deployment_id: str, name: str, version: str | None
    ) -> Path:
        return (
            self.base_dir
            / "source_plugins"
            / _component(tenant, "tenant")
            / _component(deployment_id, "deployment id")
            / _component(name, "plugin name")
            / _component(version or "0.0.0", "package version")
        )

    @staticmethod
    def is_ready(venv: Path) -> bool:
        return (venv / MARKER).is_file()

    # public API -------------------------------------------------------------------------------
    def ensure_plugin(
        self, tenant: str, plugin: Mapping[str, Any], archive: Path | None = None
    ) -> Path:
        """The python of the venv for a managed plugin, building it if needed.

        `archive` is the uploaded wagon (.wgn), wheel or sdist; without it the plugin's
        `source` is installed, which for a URL needs `index_url` (workers are offline).
        """
        name = plugin.get("package_name") or plugin.get("name")
        venv = self.plugin_dir(tenant, str(name), plugin.get("package_version"))
        if archive is not None:
            target: str | Path = Path(archive)
        else:
            target = self._checked_source(plugin)
        return self._ensure(venv, target, {"tenant": tenant, "plugin": dict(plugin)})

    def ensure_source_plugin(
        self, tenant: str, deployment_id: str, plugin: Mapping[str, Any], blueprint_dir: Path
    ) -> Path:
        """The python of a per-deployment venv for a plugin shipped in the blueprint's
        plugins/ folder (`source: name` → plugins/name/ or plugins/name.zip)."""
        name = str(plugin.get("package_name") or plugin.get("name"))
        venv = self.source_plugin_dir(tenant, deployment_id, name, plugin.get("package_version"))
        source = self._checked_source(plugin)
        if isinstance(source, str) and not is_url(source) and not Path(source).is_absolute():
            plugins = Path(blueprint_dir) / "plugins"
            candidates = [plugins / source, plugins / f"{source}.zip"]
            found = next((c for c in candidates if c.exists()), None)
            if found is None:
                raise PluginInstallError(
                    f"plugin {name!r}: source {source!r} not found in {plugins}"
                )
            source = found
        meta = {"tenant": tenant, "deployment_id": deployment_id, "plugin": dict(plugin)}
        return self._ensure(venv, source, meta)

    def _checked_source(self, plugin: Mapping[str, Any]) -> str | Path:
        source = plugin.get("source")
        if not source:
            raise PluginInstallError(f"plugin {plugin.get('name')!r} has no archive and no source")
        if is_url(str(source)) and not self.index_url:
            raise PluginInstallError(
                f"plugin {plugin.get('name')!r}: source {source!r} is a URL, and workers install "
                "offline; upload the plugin as a wagon, or configure a package index URL"
            )
        return Path(source) if Path(str(source)).is_absolute() else str(source)

    # building -----------------------------------------------------------------------------------
    def _ensure(self, venv: Path, source: str | Path, meta: dict[str, Any]) -> Path:
        python = venv_python(venv)
        if self.is_ready(venv):
            return python
        with file_lock(venv.with_name(venv.name + ".lock")):
            if self.is_ready(venv):  # another process finished it while we waited
                return python
            if venv.exists():
                shutil.rmtree(venv)  # half-built by a process that died
            started = time.monotonic()
            try:
                self._create(venv)
                installer = self._install(venv, source)
                self._write_pth(venv)
                marker = {
                    **meta,
                    "installer": installer,
                    "python": self.python,
                    "pid": os.getpid(),
                    "seconds": round(time.monotonic() - started, 3),
                }
                temporary = venv / (MARKER + ".tmp")
                temporary.write_text(json.dumps(marker, default=str))
                os.replace(temporary, venv / MARKER)
            except BaseException:
                shutil.rmtree(venv, ignore_errors=True)
                raise
        return python

    def _create(self, venv: Path) -> None:
        venv.parent.mkdir(parents=True, exist_ok=True)
        if self.uv:
            cmd = [self.uv, "venv", "--quiet", "--no-project", "--python", self.python, str(venv)]
        else:
            cmd = [self.python, "-m", "venv", str(venv)]
        self._run(cmd, f"creating venv {venv}")

    def _install(self, venv: Path, source: str | Path) -> str:
        with tempfile.TemporaryDirectory(prefix=".unpack-", dir=venv.parent) as scratch:
            links = list(self.find_links)
            requirement: str
            if isinstance(source, Path) and source.name.endswith(".wgn"):
                wheels, package = unpack_wagon(source, Path(scratch))
                links.insert(0, wheels)
                requirement = package
            elif isinstance(source, Path) and source.suffix == ".zip":
                requirement = str(_unzip_source(source, Path(scratch)))
            elif isinstance(source, Path):
                if not source.exists():
                    raise PluginInstallError(f"plugin archive {source} does not exist")
                if source.suffix == ".whl":
                    links.insert(0, source.parent)
                requirement = str(source)
            else:
                requirement = source
            return self._pip_install(venv, requirement, links)

    def _pip_install(self, venv: Path, requirement: str, links: list[Path]) -> str:
        python = str(venv_python(venv))
        source_args = ["--index-url", self.index_url] if self.index_url else ["--no-index"]
        for link in links:
            source_args += ["--find-links", str(link)]
        if self.uv:
            offline = [] if self.index_url else ["--offline"]
            cmd = [
                self.uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                python,
                *offline,
                *source_args,
                "--prerelease",
                "allow",
                "--compile-bytecode",
                requirement,
            ]
            installer = "uv"
        else:
            # pip compiles bytecode by default.
            cmd = [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--pre",
                *source_args,
                requirement,
            ]
            installer = "pip"
        self._run(cmd, f"installing {requirement} into {venv}")
        return installer

    def _write_pth(self, venv: Path) -> None:
        packages = site_packages(venv)
        lines = [str(ensure_sdk_dir(self.base_dir / ".sdk"))]
        # A venv with real cloudify-common (wagons bundle it) must keep using it.
        if not (packages / "cloudify" / "__init__.py").exists():
            lines.append(str(COMPAT_DIR))
        (packages / "quarterdeck-sdk.pth").write_text("\n".join(lines) + "\n")

    def _run(self, cmd: list[str], what: str) -> None:
        # A source plugin's build backend runs here: never with the worker's settings (its
        # token). It still runs as the worker's user: see the README's note on installs.
        env = {k: v for k, v in os.environ.items() if not k.startswith("QD_")}
        env["UV_PYTHON_DOWNLOADS"] = "never"  # workers are offline; never fetch interpreters
        env.pop("VIRTUAL_ENV", None)
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, env=env, cwd=self.base_dir, timeout=1800
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PluginInstallError(f"{what} failed: {exc}") from exc
        if done.returncode != 0:
            output = (done.stderr.strip() + "\n" + done.stdout.strip()).strip()
            raise PluginInstallError(f"{what} failed (exit code {done.returncode}):\n{output}")


def unpack_wagon(wagon: Path, into: Path) -> tuple[Path, str]:
    """Extract a wagon (tar.gz or zip); return its wheels directory and package name."""
    try:
        if zipfile.is_zipfile(wagon):
            with zipfile.ZipFile(wagon) as archive:
                archive.extractall(into)
        else:
            with tarfile.open(wagon) as archive:
                archive.extractall(into, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise PluginInstallError(f"{wagon.name} is not a readable wagon: {exc}") from exc
    metadata = next(into.glob("*/package.json"), None)
    if metadata is None:
        raise PluginInstallError(f"{wagon.name} is not a wagon: no <dir>/package.json inside")
    package = json.loads(metadata.read_text()).get("package_name")
    wheels = metadata.parent / "wheels"
    if not package or not wheels.is_dir():
        raise PluginInstallError(f"{wagon.name}: package.json lacks package_name or wheels/")
    return wheels, str(package)


def _unzip_source(archive: Path, into: Path) -> Path:
    """A zipped source plugin (how Cloudify stores blueprint plugins/): the project dir."""
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(into)
    projects = [p.parent for p in into.rglob("pyproject.toml")] + [
        p.parent for p in into.rglob("setup.py")
    ]
    if not projects:
        raise PluginInstallError(f"{archive.name} holds no pyproject.toml or setup.py")
    return min(projects, key=lambda p: len(p.parts))
