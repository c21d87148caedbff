"""Misconfigured processes stop at once with exit code 2 and one line naming the problem,
instead of a traceback, a silent retry loop or a worker that fails every task."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from manager.settings import Settings
from tests.conftest import BACKENDS
from tests.engine.conftest import own_stack
from tests.engine.stack import Stack
from tests.support import free_port, without_settings

pytestmark = pytest.mark.slow

# A port nothing listens on (the discard port, closed on this machine and in CI).
CLOSED = 9


def quarterdeck(
    *args: str, cwd: Path, timeout: float = 60, **settings: str
) -> subprocess.CompletedProcess[str]:
    env = without_settings()
    env["QD_DATA_DIR"] = str(cwd / "data")
    # Nothing to wait for: what is unreachable stays so.
    env["QD_STARTUP_WAIT_SECONDS"] = "0"
    env.update({f"QD_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "manager.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """The process exited 2 with one error line on stderr, naming each of `words`. (A
    worker may log one warning before it: operations share its user when the test session
    runs them without an operation user.)"""
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("quarterdeck: ")]
    assert len(errors) == 1, done.stderr
    others = [line for line in lines if line not in errors]
    assert all(" WARNING worker " in line for line in others), done.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert "Traceback" not in done.stdout + done.stderr
    return errors[0]


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_api_with_a_wrong_database_url(tmp_path: Path, redis_url: str) -> None:
    done = quarterdeck(
        "api",
        "--port",
        str(free_port()),
        cwd=tmp_path,
        database_url=f"postgresql://quarterdeck:hunter2@127.0.0.1:{CLOSED}/nowhere",
        broker_url=redis_url,
    )
    line = one_line(done, "QD_DATABASE_URL", f"127.0.0.1:{CLOSED}")
    assert "hunter2" not in line  # (the password is left out)


def test_api_with_an_unreachable_broker(tmp_path: Path) -> None:
    done = quarterdeck(
        "api",
        "--port",
        str(free_port()),
        cwd=tmp_path,
        broker_url=f"redis://127.0.0.1:{CLOSED}/0",
    )
    one_line(done, "QD_BROKER_URL", f"redis://127.0.0.1:{CLOSED}/0")


def test_api_on_a_busy_port(tmp_path: Path, redis_url: str, listening: int) -> None:
    done = quarterdeck("api", "--port", str(listening), cwd=tmp_path, broker_url=redis_url)
    one_line(done, f"port {listening}", "already in use")


def test_a_second_serve_on_a_busy_port(tmp_path: Path, listening: int) -> None:
    done = quarterdeck("serve", "--port", str(listening), cwd=tmp_path)
    one_line(done, f"port {listening}", "already in use")
    assert "serving at" not in done.stdout + done.stderr


def test_a_bad_setting(tmp_path: Path) -> None:
    done = quarterdeck("api", cwd=tmp_path, log_format="xml")
    one_line(done, "QD_LOG_FORMAT")


def test_worker_without_a_token_or_secret_key(tmp_path: Path, redis_url: str) -> None:
    done = quarterdeck(
        "worker", cwd=tmp_path, api_url=f"http://127.0.0.1:{CLOSED}", broker_url=redis_url
    )
    one_line(done, "QD_WORKER_TOKEN")


def test_worker_with_an_unreachable_broker(tmp_path: Path) -> None:
    done = quarterdeck(
        "worker",
        cwd=tmp_path,
        worker_token="t",
        api_url=f"http://127.0.0.1:{CLOSED}",
        broker_url=f"redis://127.0.0.1:{CLOSED}/0",
    )
    one_line(done, "QD_BROKER_URL")


def test_worker_with_an_unreachable_api(tmp_path: Path, redis_url: str) -> None:
    done = quarterdeck(
        "worker",
        cwd=tmp_path,
        worker_token="t",
        api_url=f"http://127.0.0.1:{CLOSED}",
        broker_url=redis_url,
    )
    one_line(done, "cannot reach the API", f"QD_API_URL=http://127.0.0.1:{CLOSED}")


@pytest.fixture(scope="module")
def api_only(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    with own_stack(BACKENDS[0], tmp_path_factory.mktemp("api"), redis_url) as stack:
        stack.start_api()
        yield stack


def test_worker_with_a_wrong_token(tmp_path: Path, api_only: Stack) -> None:
    done = quarterdeck(
        "worker",
        cwd=tmp_path,
        worker_token="not-the-token",
        api_url=api_only.url,
        broker_url=api_only.redis_url,
    )
    line = one_line(done, "refuses this worker's QD_WORKER_TOKEN", api_only.url)
    assert "not-the-token" not in line


def test_worker_with_a_secret_key_of_another_manager(tmp_path: Path, api_only: Stack) -> None:
    done = quarterdeck(
        "worker",
        cwd=tmp_path,
        secret_key="another-managers-key",
        api_url=api_only.url,
        broker_url=api_only.redis_url,
    )
    one_line(done, "QD_WORKER_TOKEN")
    # (and the right token passes the same check: see test_operating.py's workers)
    assert Settings(secret_key="another-managers-key").resolved_worker_token not in done.stderr
