"""A plugin written against cloudify-common 7.0.5 (`from cloudify import ctx`), packed as a
wagon holding it and every dependency as wheels, as real Cloudify plugins ship.

The dependency wheels come from PyPI once (`pip wheel`, which also builds the few that are
only published as sdists) into `$QD_TEST_CACHE` (default `~/.cache/quarterdeck-tests`), in a
directory keyed by the requirements, the Python version and the platform, completed by a
marker file written last. Without PyPI, `ReferenceUnavailable` says why (tests skip).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.compat.reference_env import ReferenceUnavailable, cache_dir
from tests.workers.conftest import build_wagon, build_wheel
from workers.venvs import file_lock

# setuptools < 81 still ships pkg_resources, which cloudify-common 7.0.5 imports.
REQUIREMENTS = ("cloudify-common==7.0.5", "setuptools<81")
PACKAGE, VERSION = "qdcfyplugin", "1.0.0"
DOWNLOAD_TIMEOUT = 900
_MARKER = ".quarterdeck-complete"

PLUGIN_YAML = f"""
plugins:
  qdcfy:
    executor: central_deployment_agent
    package_name: {PACKAGE}
    package_version: '{VERSION}'
node_types:
  qdcfy.Server:
    derived_from: cloudify.nodes.Root
    properties:
      port: {{type: integer, default: 8080}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: qdcfy.qdcfyplugin.tasks.create
          inputs:
            greeting: {{default: hello}}
        configure: qdcfy.qdcfyplugin.tasks.configure
        delete: qdcfy.qdcfyplugin.tasks.delete
  qdcfy.Scripted:
    derived_from: cloudify.nodes.Root
    properties:
      port: {{type: integer, default: 7070}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          # cloudify-common's own script runner, from this plugin's venv.
          implementation: qdcfy.script_runner.tasks.run
          inputs:
            script_path: {{default: scripts/create.sh}}
            GREETING: {{default: from-bash}}
relationships:
  qdcfy.connected_to:
    derived_from: cloudify.relationships.connected_to
    source_interfaces:
      cloudify.interfaces.relationship_lifecycle:
        preconfigure: qdcfy.qdcfyplugin.tasks.connect
"""


def dependency_wheels() -> Path:
    """The directory of cloudify-common's wheels and its dependencies', fetched once."""
    key = json.dumps([REQUIREMENTS, sys.version_info[:2], sysconfig.get_platform()]).encode()
    target = cache_dir() / f"cloudify-wheels-{hashlib.sha256(key).hexdigest()[:16]}"
    if (target / _MARKER).exists():
        return target
    with file_lock(target.with_name(target.name + ".lock")):
        if (target / _MARKER).exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--timeout",
            "60",
            "--wheel-dir",
            str(target),
            *REQUIREMENTS,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReferenceUnavailable(
                f"downloading cloudify-common's wheels failed: {exc}"
            ) from None
        if done.returncode != 0 or not any(target.glob("cloudify_common-7.0.5-*.whl")):
            tail = (done.stderr or done.stdout).strip().splitlines()[-10:]
            raise ReferenceUnavailable(
                "downloading cloudify-common's wheels from PyPI failed: " + " | ".join(tail)
            )
        (target / _MARKER).write_text(json.dumps({"requirements": REQUIREMENTS}))
    return target


def build_cloudify_wagon(out_dir: Path) -> Path:
    """The wagon of `qdcfyplugin`: its wheel plus cloudify-common's and the rest."""
    wheels_dir = out_dir / "plugin-wheel"
    wheels_dir.mkdir(parents=True, exist_ok=True)
    scratch = out_dir / "plugin-src"
    scratch.mkdir(parents=True, exist_ok=True)
    plugin_wheel = build_wheel(PACKAGE, wheels_dir, scratch)
    dependencies = sorted(dependency_wheels().glob("*.whl"))
    wagon_dir = out_dir / "wagon"
    wagon_dir.mkdir(parents=True, exist_ok=True)
    return build_wagon(PACKAGE, VERSION, [plugin_wheel, *dependencies], wagon_dir)
