"""Per-plugin virtualenvs: create with uv (or venv+pip), install offline, lock, mark ready.

Layout under `base_dir` (mirrors Cloudify's, plugin-dispatch.md §11):
  plugins/<tenant>/<package_name>/<package_version>/          managed plugins (wagons, wheels)
  source_plugins/<tenant>/<deployment>/<name>/<version>/      plugins from a blueprint's plugins/
  .sdk/quarterdeck -> the SDK package                         put on each venv's sys.path
A venv is usable only once its marker file exists; the marker is written last, under an
exclusive flock on `<venv>.lock`, so a half-built venv (crash, full disk) is rebuilt.

Building a venv runs package code (a source plugin's setup.py or PEP 517 hooks), so when the
worker runs as root the build runs as the sandbox's operation user: from a staging directory
that user owns (copies of what the build reads), with the allow-listed environment and a uv
cache of its own. The finished venv is then handed back to the worker's user, not writable by
others, so one tenant's operations cannot tamper with a venv another tenant's operations run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import stat
import subprocess
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
from workers.isolation import Sandbox, default_sandbox

MARKER = ".quarterdeck-venv.json"
SDK_PACKAGE_DIR = Path(quarterdeck.__file__).resolve().parent
# Holds the `cloudify` compatibility package and the built-in `cloudify_types` operations;
# added to venvs without cloudify-common.
COMPAT_DIR = Path(__file__).resolve().parent / "sdk_compat"
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")  # fullmatch: `$` allows a final newline
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# Settings of the installers themselves that a build as the operation user keeps (an index
# URL, TLS or proxy options the operator set for them); UV_CACHE_DIR is always replaced.
INSTALLER_ENV = ("UV_", "PIP_")
# Mode bits a handed-back venv loses: write for group and others, set-user/group-ID, sticky.
_SEALED_OFF = stat.S_IWGRP | stat.S_IWOTH | stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


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
        sandbox: Sandbox | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.sandbox = sandbox or default_sandbox()
        self.python = python or self.sandbox.python
        self.find_links = [Path(p) for p in find_links]
        self.index_url = index_url
        self.uv = find_uv() if use_uv else None
        # Source plugins found ready, by what names them: (python, marker file). Every
        # operation asks, and working out the paths again cost more than the operation.
        self._ready_sources: dict[tuple[Any, ...], tuple[Path, str]] = {}

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
        version, wanted = plugin.get("package_version"), plugin.get("source")
        key = (tenant, deployment_id, name, version, wanted, str(blueprint_dir))
        known = self._ready_sources.get(key)
        if known is not None and os.path.isfile(known[1]):  # (still there: not rebuilt)
            return known[0]
        venv = self.source_plugin_dir(tenant, deployment_id, name, version)
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
        python = self._ensure(venv, source, meta)
        self._ready_sources[key] = (python, str(venv / MARKER))
        return python

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
                with self._staging(venv) as build:
                    requirement, links = self._stage(source, build)
                    build.hand_over()
                    self._create(venv, build)
                    installer = self._pip_install(venv, requirement, links, build)
                    if self.sandbox.separate_user:
                        hand_back(venv, self.sandbox)
                self._write_pth(venv)
                marker = {
                    **meta,
                    "installer": installer,
                    "python": self.python,
                    "built_as": self.sandbox.user or None,
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

    @contextmanager
    def _staging(self, venv: Path) -> Iterator[_Build]:
        """A scratch directory beside the venv for one build, removed afterwards. With a
        separate user it also holds that user's HOME and uv cache (never root's: a cache
        shared across builds would let one tenant's operations poison another's installs)."""
        venv.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=venv.parent))
        try:
            yield _Build(self, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _create(self, venv: Path, build: _Build) -> None:
        if self.sandbox.separate_user:
            # The user builds into a directory it owns; the venv's parents stay the worker's.
            venv.mkdir()
            self.sandbox.give(venv)
        if self.uv:
            cmd = [self.uv, "venv", "--quiet", "--no-project", "--python", self.python]
            if self.sandbox.separate_user:
                cmd.append("--allow-existing")
            cmd.append(str(venv))
        else:
            cmd = [self.python, "-m", "venv", str(venv)]
        build.run(cmd, f"creating venv {venv}")

    def _stage(self, source: str | Path, build: _Build) -> tuple[str, list[Path]]:
        """What to install, and the directories to find wheels in: an archive is unpacked
        into the build's scratch directory; with a separate user an archive or source
        directory is copied there too (the worker's copies are private to it)."""
        scratch = build.sources
        links = list(self.find_links)
        if isinstance(source, Path) and source.name.endswith(".wgn"):
            wheels, package = unpack_wagon(source, scratch)
            return package, [wheels, *links]
        if isinstance(source, Path) and source.suffix == ".zip":
            return str(_unzip_source(source, scratch)), links
        if isinstance(source, Path):
            if not source.exists():
                raise PluginInstallError(f"plugin archive {source} does not exist")
            if self.sandbox.separate_user:
                source = _copy_into(source, scratch)
            if source.suffix == ".whl":
                links.insert(0, source.parent)
            return str(source), links
        return source, links

    def _pip_install(self, venv: Path, requirement: str, links: list[Path], build: _Build) -> str:
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
        build.run(cmd, f"installing {requirement} into {venv}")
        return installer

    def _write_pth(self, venv: Path) -> None:
        packages = site_packages(venv)
        lines = [str(ensure_sdk_dir(self.base_dir / ".sdk"))]
        # A venv with real cloudify-common (wagons bundle it) must keep using it.
        if not (packages / "cloudify" / "__init__.py").exists():
            lines.append(str(COMPAT_DIR))
        (packages / "quarterdeck-sdk.pth").write_text("\n".join(lines) + "\n")


class _Build:
    """One venv build: where its sources are unpacked, and how its commands are run.

    Without a separate user the commands run as the worker's user in the worker's
    environment less Quarterdeck's settings, as they always did. With one they run as that
    user, in a session of their own (ended when the command is, so no build process lingers
    to write into the venv after it is handed back), with the allow-listed environment, the
    installers' own settings, and a HOME, TMPDIR and uv cache in the scratch directory.
    """

    def __init__(self, manager: VenvManager, scratch: Path) -> None:
        self.sandbox = manager.sandbox
        self.scratch = scratch
        self.sources = scratch / "src"
        self.sources.mkdir()
        if self.sandbox.separate_user:
            home, cache, temporary = scratch / "home", scratch / "uv-cache", scratch / "tmp"
            for directory in (home, cache, temporary):
                directory.mkdir()
            self.env = self.sandbox.environment(home)
            self.env.update({k: v for k, v in os.environ.items() if k.startswith(INSTALLER_ENV)})
            self.env["UV_CACHE_DIR"] = str(cache)
            # (the worker's own TMPDIR may be private to it)
            self.env["TMPDIR"] = str(temporary)
            self.cwd = home
        else:
            # A source plugin's build backend runs here: never with the worker's settings
            # (its token). It still runs as the worker's user: see the README's note.
            self.env = {k: v for k, v in os.environ.items() if not k.startswith("QD_")}
            self.env.pop("VIRTUAL_ENV", None)
            self.cwd = manager.base_dir
        self.env["UV_PYTHON_DOWNLOADS"] = "never"  # workers are offline; never fetch interpreters

    def hand_over(self) -> None:
        """Give the scratch directory, with what the worker unpacked or copied into it, to
        the operation user: the build reads its sources and writes its build files there.

        The scratch directory (0700) is the worker's until its contents are handed over, so
        nothing can swap an entry for a link meanwhile; links are never followed.
        """
        uid, gid = self.sandbox.uid, self.sandbox.gid
        if uid is None:
            return
        group = -1 if gid is None else gid
        for directory, dirnames, filenames in os.walk(self.scratch):
            for name in [*dirnames, *filenames]:
                os.chown(Path(directory) / name, uid, group, follow_symlinks=False)
        os.chown(self.scratch, uid, group)

    def run(self, cmd: list[str], what: str) -> None:
        separate = self.sandbox.separate_user
        who = f" as the operation user {self.sandbox.user}" if separate else ""
        # Output goes to a file, not a pipe: a process the build leaves behind holding the
        # pipe open would otherwise keep the worker waiting.
        with tempfile.TemporaryFile(mode="w+", errors="replace") as output:
            try:
                process = subprocess.Popen(
                    cmd,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=separate,
                    **self.sandbox.popen_options(),
                )
            except OSError as exc:
                raise PluginInstallError(f"{what} failed{who}: {exc}") from exc
            try:
                returncode = process.wait(timeout=1800)
            except subprocess.TimeoutExpired as exc:
                process.kill()
                process.wait()
                raise PluginInstallError(f"{what} failed{who}: {exc}") from exc
            finally:
                if separate:
                    _end_session(process.pid)
            if returncode != 0:
                output.seek(0)
                text = output.read().strip()
                raise PluginInstallError(f"{what} failed{who} (exit code {returncode}):\n{text}")


def _end_session(session: int) -> None:
    """Kill what is left of a build's session (a child it started and left running)."""
    try:
        os.killpg(session, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left


def _copy_into(source: Path, scratch: Path) -> Path:
    """A copy of an archive or source directory for a build as the operation user. Symbolic
    links are copied as links: following them as root would copy what they point to."""
    target = scratch / source.name
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copyfile(source, target)
    return target


def hand_back(venv: Path, sandbox: Sandbox) -> None:
    """Give a venv the operation user built back to the worker's user, without write access
    for group and others (nor set-ID bits), so operations run it but cannot change it.

    Each directory is closed (owner and mode) before it is listed, so its entries cannot
    change underneath; anything in it the operation user does not own (a hard link to
    someone else's file) fails the build rather than being taken over.
    """
    uid, gid = os.getuid(), os.getgid()

    def seal(directory: int, where: str) -> None:
        os.fchown(directory, uid, gid)
        os.fchmod(directory, stat.S_IMODE(os.fstat(directory).st_mode) & ~_SEALED_OFF)
        with os.scandir(directory) as entries:
            listed = list(entries)
        for entry in listed:
            info = entry.stat(follow_symlinks=False)
            name = f"{where}/{entry.name}"
            if info.st_uid != sandbox.uid:
                raise PluginInstallError(
                    f"building {venv} left {name} owned by uid {info.st_uid}, not by the "
                    f"operation user {sandbox.user}"
                )
            if stat.S_ISDIR(info.st_mode):
                child = os.open(
                    entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory
                )
                try:
                    seal(child, name)
                finally:
                    os.close(child)
                continue
            os.chown(entry.name, uid, gid, dir_fd=directory, follow_symlinks=False)
            if not stat.S_ISLNK(info.st_mode):
                # (the directory is closed: the entry is still the file just examined)
                os.chmod(entry.name, stat.S_IMODE(info.st_mode) & ~_SEALED_OFF, dir_fd=directory)

    top = os.open(venv, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        seal(top, str(venv))
    finally:
        os.close(top)


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
