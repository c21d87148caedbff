"""cloudify-aws-plugin 3.1.7 as a Cloudify user packs it, and moto's AWS server to run it against.

Both come from the package index once and are cached under `$QD_TEST_CACHE` (default
`~/.cache/quarterdeck-tests`), each completed by a marker file written last:

* a tools venv with wagon (and its `dist` extra, without which it cannot name the platform on
  Python 3.8+), moto's server and boto3;
* the wagon, packed the offline-friendly way docs/plugin-guide.md describes: `pip download`
  of the plugin's sdist, then `wagon create` from that file (`wagon create
  cloudify-aws-plugin==3.1.7` asks the index's JSON API itself).

If the tools venv cannot be installed, the index is unreachable: `ReferenceUnavailable` says
why and the test skips. A wagon that fails to build once the index answered is a failure.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_port, wait_for_http
from workers.venvs import file_lock

from .reference_env import cache_dir, cached_venv_python

PLUGIN = "cloudify-aws-plugin"
PLUGIN_VERSION = "3.1.7"
# wagon packs with the pip of its own venv (uv makes venvs without one).
TOOLS = ("wagon[dist]==1.0.3", "moto[server]==5.2.6", "boto3", "pip", "setuptools<81")
BUILD_TIMEOUT = 1200
_MARKER = ".quarterdeck-complete"


def tools_bin() -> Path:
    """bin/ of the tools venv (wagon, moto_server, boto3), built on first use."""
    python = cached_venv_python(
        TOOLS, "aws-tools", "import wagon, moto.server, boto3, distro, pip; print('ok')"
    )
    return python.parent


def aws_wagon(tools: Path) -> Path:
    """The plugin's wagon, built from its sdist on first use and cached."""
    key = json.dumps([PLUGIN, PLUGIN_VERSION, TOOLS, sys.version_info[:2]]).encode()
    target = cache_dir() / f"aws-plugin-wagon-{hashlib.sha256(key).hexdigest()[:16]}"
    if (target / _MARKER).exists():
        return _only_wagon(target)
    with file_lock(target.with_name(target.name + ".lock")):
        if (target / _MARKER).exists():
            return _only_wagon(target)
        shutil.rmtree(target, ignore_errors=True)
        sdist_dir = target / "sdist"
        _run(
            [
                str(tools / "python"), "-m", "pip", "download", "--quiet", "--no-deps",
                "--no-binary", ":all:", "--disable-pip-version-check", "--timeout", "60",
                "--dest", str(sdist_dir), f"{PLUGIN}=={PLUGIN_VERSION}",
            ],
            "downloading the plugin's sdist",
        )  # fmt: skip
        (sdist,) = sdist_dir.glob("*.tar.gz")
        # wagon packs with the pip of its own interpreter (Python 3.11, like plugin venvs).
        # It runs in the sdist's directory: wagon 1.0.3 names the package by running
        # `setup.py --name` in its working directory, where setuptools reads that
        # directory's pyproject.toml (this repository's would make it `quarterdeck`).
        _run(
            [str(tools / "wagon"), "create", sdist.name, "--format", "tar.gz", "--force",
             "--output-directory", str(target)],
            "wagon create",
            cwd=sdist_dir,
        )  # fmt: skip
        built = _only_wagon(target)
        assert built.name.startswith(f"cloudify_aws_plugin-{PLUGIN_VERSION}-"), built
        (target / _MARKER).write_text(json.dumps({"plugin": PLUGIN, "version": PLUGIN_VERSION}))
    return _only_wagon(target)


def _only_wagon(directory: Path) -> Path:
    found = sorted(directory.glob("*.wgn"))
    assert len(found) == 1, f"expected one wagon in {directory}, found {found}"
    return found[0]


def _run(command: list[str], what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=cwd)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise AssertionError(f"{what} failed (exit {done.returncode}):\n{tail}")


@dataclass
class Moto:
    url: str
    log: Path


@contextmanager
def moto_server(tools: Path, log: Path) -> Iterator[Moto]:
    """moto's server on a free port of 127.0.0.1 (and nowhere else), until the block ends."""
    port = free_port()
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [str(tools / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(f"{url}/moto-api/", 60)
        except TimeoutError:
            raise AssertionError(
                f"moto's server did not start:\n{log.read_text()[-3000:]}"
            ) from None
        yield Moto(url, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
