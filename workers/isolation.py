"""Who operation processes run as, what environment they get, and what they may not read.

Operations run code uploaded by any user allowed to upload a blueprint. When the worker runs
as root, runners, scripts and Cloudify dispatch processes run as a separate unprivileged user
(QD_OPERATION_USER), each with a HOME and working directory of its own, and the data
directory is closed to that user. When the worker is not root, operations share its user:
that is said at start-up, and the data directory and secret files stay private to the user.
Either way operations get an allow-listed environment, never the worker's own.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Always passed on when the worker has them; everything else only when the operator names it.
BASE_ENV = ("PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR", "HOME")
PROXY_ENV = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")
# Entries of the data directory operation processes must reach (read-only): `work` holds
# the venvs, the SDK link, the `ctx` command and the operations' own directories.
REACHABLE = frozenset({"work"})
# Entries of `work` operation processes have no business reading.
WORKER_PRIVATE = ("plugin-archives",)


class OperationUserError(Exception):
    """The operation user cannot be created or cannot run operations; the message says why."""


def environment_patterns(setting: str) -> tuple[str, ...]:
    """The operator's QD_OPERATION_ENV: comma-separated names or shell patterns (AWS_*)."""
    return tuple(p.strip() for p in setting.split(",") if p.strip())


def allowed_environment(source: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """The part of `source` operations may see: the base allow-list, proxies in either case,
    and the operator's patterns; never Quarterdeck's own settings (QD_*), whatever the
    patterns say, because they hold the worker token."""
    patterns = [*BASE_ENV, *extra]
    env: dict[str, str] = {}
    for name, value in source.items():
        if name.startswith("QD_"):
            continue
        if name.lower() in PROXY_ENV or any(fnmatch.fnmatchcase(name, p) for p in patterns):
            env[name] = value
    return env


@dataclass(frozen=True)
class Sandbox:
    """How operation processes are started. `uid` None: as the worker's own user."""

    uid: int | None = None
    gid: int | None = None
    user: str = ""
    env_patterns: tuple[str, ...] = ()
    python: str = field(default_factory=lambda: sys.executable)

    @property
    def separate_user(self) -> bool:
        return self.uid is not None

    def popen_options(self) -> dict[str, Any]:
        """Popen arguments that drop to the operation user in the child, before exec."""
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def environment(self, home: Path, source: Mapping[str, str] | None = None) -> dict[str, str]:
        env = allowed_environment(os.environ if source is None else source, self.env_patterns)
        env["HOME"] = str(home)
        env.setdefault("PATH", os.defpath)
        return env

    def give(self, path: Path) -> Path:
        """Hand a file or directory the worker made to the operation user."""
        if self.uid is not None:
            os.chown(path, self.uid, self.gid if self.gid is not None else -1)
        return path

    def private_dir(self, parent: Path, prefix: str) -> Path:
        """A fresh directory (mode 0700) owned by the operation user: its HOME or cwd."""
        parent.mkdir(parents=True, exist_ok=True)
        return self.give(Path(tempfile.mkdtemp(prefix=prefix, dir=parent)))


def default_sandbox() -> Sandbox:
    """Operations as the worker's user, with the base allow-list (library use and tests)."""
    return Sandbox()


def operation_sandbox(
    user: str, env_setting: str = "", python: str = "", *, create: bool = False
) -> Sandbox:
    """The sandbox for this worker: a separate user when running as root and `user` is set.

    With `create`, a missing user is created (`useradd --system`); without, it must exist.
    """
    patterns = environment_patterns(env_setting)
    interpreter = python or sys.executable
    if os.geteuid() != 0 or not user:
        return Sandbox(env_patterns=patterns, python=interpreter)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        if not create:
            raise OperationUserError(f"QD_OPERATION_USER {user!r} does not exist") from None
        entry = _create_user(user)
    if entry.pw_uid == 0:
        raise OperationUserError(
            f"QD_OPERATION_USER {user!r} is root: operations need an unprivileged user"
        )
    return Sandbox(entry.pw_uid, entry.pw_gid, user, patterns, interpreter)


def _create_user(user: str) -> pwd.struct_passwd:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    command = [
        useradd,
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        user,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OperationUserError(f"creating QD_OPERATION_USER {user!r} failed: {exc}") from exc
    if done.returncode != 0 and "already exists" not in done.stderr:
        raise OperationUserError(
            f"creating QD_OPERATION_USER {user!r} failed: {done.stderr.strip() or done.returncode}"
        )
    log.info("created the operation user %s (useradd --system)", user)
    return pwd.getpwnam(user)


def protect_data_dir(data_dir: Path, sandbox: Sandbox) -> None:
    """Close the data directory to operation processes.

    With a separate user the root becomes 0711: that user may pass through to `work` (the
    venvs it runs) but not list the directory, and every other entry (secrets.json, the
    SQLite file and its -wal/-shm, the Redis socket, uploaded files) is made private to the
    worker's user. Without one, the root is 0700 and secret files 0600, which keeps other
    local users out (operations share the worker's user and are not kept out).
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o711 if sandbox.separate_user else 0o700)
    for entry in data_dir.iterdir():
        if entry.name in REACHABLE or entry.is_symlink():
            continue
        _make_private(entry)
    work = data_dir / "work"
    for name in WORKER_PRIVATE:
        if (work / name).exists():
            _make_private(work / name)


def _make_private(path: Path) -> None:
    try:
        mode = path.stat().st_mode & 0o777
        os.chmod(path, mode & 0o700)
    except FileNotFoundError:
        pass  # (a -wal file that SQLite just removed)


def check_sandbox(sandbox: Sandbox, sdk_dir: Path, work_dir: Path) -> None:
    """Start-up check that the operation user can run operations: the interpreter, the SDK
    and the work directory must be reachable by it. Raises with the culprit named."""
    if not sandbox.separate_user:
        return
    probe = "import os, sys, quarterdeck.runner; os.listdir(sys.argv[1])"
    try:
        done = subprocess.run(
            [sandbox.python, "-c", probe, str(work_dir)],
            capture_output=True,
            text=True,
            cwd="/",
            env={"PATH": os.defpath, "PYTHONPATH": str(sdk_dir), "HOME": "/nonexistent"},
            timeout=60,
            **sandbox.popen_options(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = str(exc)
    else:
        if done.returncode == 0:
            return
        lines = done.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}"
    raise OperationUserError(
        f"the operation user {sandbox.user} cannot run operations with {sandbox.python} "
        f"(the SDK in {sdk_dir}, the work directory {work_dir}): {reason}. "
        "Make the interpreter and the data directory's parents reachable by that user, "
        "or set QD_OPERATION_PYTHON to an interpreter it can run"
    )


def announce(sandbox: Sandbox) -> None:
    """Say at start-up who operations run as."""
    if sandbox.separate_user:
        log.info("operations run as the user %s (uid %s)", sandbox.user, sandbox.uid)
        return
    reason = "the worker is not root" if os.geteuid() != 0 else "QD_OPERATION_USER is empty"
    log.warning(
        "operations run as this worker's own user (%s): they can read whatever it can, "
        "including the data directory; run the worker as root with QD_OPERATION_USER to "
        "separate them",
        reason,
    )
