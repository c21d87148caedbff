"""The reference DSL implementation (cloudify-common 7.0.5) in a cached virtualenv of its own.

The venv lives under `$QD_TEST_CACHE` (default `~/.cache/quarterdeck-tests`), in a directory
keyed by the requirements and the Python version. It is built with uv under an exclusive file
lock, and a marker file written last says it is complete: a half-built venv (crash, full
disk, no network) is rebuilt by the next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# cloudify-common 7.0.5 needs the [dispatcher] extra for dsl_parser (PyYAML, networkx<3), and
# `pkg_resources`, which setuptools stopped shipping in 81 (plugin-dispatch.md §15).
REQUIREMENTS = ("cloudify-common[dispatcher]==7.0.5", "setuptools<81")
INSTALL_TIMEOUT = 900
_MARKER = ".quarterdeck-complete"


class ReferenceUnavailable(RuntimeError):
    """The reference implementation cannot be installed here; the message says why."""


def cache_dir() -> Path:
    configured = os.environ.get("QD_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "quarterdeck-tests"


def venv_dir(requirements: tuple[str, ...] = REQUIREMENTS, prefix: str = "cloudify-common") -> Path:
    # "compiled": venvs built before their bytecode was compiled at install get a new key.
    key = json.dumps([requirements, sys.version_info[:2], "compiled"]).encode()
    return cache_dir() / f"{prefix}-{hashlib.sha256(key).hexdigest()[:16]}"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _find_uv() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise ReferenceUnavailable("uv is not installed") from None
        return found


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env={**os.environ, "UV_HTTP_TIMEOUT": "60"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReferenceUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise ReferenceUnavailable(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))


def reference_python() -> Path:
    """The reference venv's interpreter, creating the venv on first use.

    Raises ReferenceUnavailable with the reason when it cannot be installed.
    """
    return cached_venv_python(
        REQUIREMENTS, "cloudify-common", "import dsl_parser.parser, dsl_parser.tasks"
    )


def cached_venv_python(requirements: tuple[str, ...], prefix: str, smoke_test: str) -> Path:
    """The interpreter of a cached venv holding `requirements`, built on first use.

    `smoke_test` is Python code that must run in the new venv before it counts as complete.
    Raises ReferenceUnavailable with the reason when it cannot be built.
    """
    venv = venv_dir(requirements, prefix)
    if (venv / _MARKER).exists():
        return _venv_python(venv)
    with _locked(venv.with_name(venv.name + ".lock")):
        if (venv / _MARKER).exists():
            return _venv_python(venv)
        shutil.rmtree(venv, ignore_errors=True)
        uv = _find_uv()
        _run(
            [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
            f"creating the {prefix} virtualenv",
        )
        _run(
            # Compiled now, because a test environment that sets PYTHONDONTWRITEBYTECODE would
            # otherwise compile every module again in each process the venv starts.
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                str(_venv_python(venv)),
                *requirements,
            ],
            f"installing {' '.join(requirements)}",
        )
        _run(
            [str(_venv_python(venv)), "-W", "ignore", "-c", smoke_test],
            f"checking the {prefix} virtualenv",
        )
        (venv / _MARKER).write_text(json.dumps({"requirements": requirements}))
    return _venv_python(venv)
