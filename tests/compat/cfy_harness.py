"""A `quarterdeck serve` on a free port, and the real `cfy` 7.0.5 pointed at it.

`cfy` runs as a subprocess with HOME (and so its profiles) in a private directory; each call
returns its exit code and its merged stdout/stderr, which is what a user sees.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port, wait_for_http, wait_until, without_settings

PASSWORD = "cfy-compat-password"
TENANT = "default_tenant"
CFY_TIMEOUT = 120


@dataclass
class Server:
    """`quarterdeck serve` with its data directory; stop() ends every process it started."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v3.1",
            auth=("admin", PASSWORD),
            headers={"Tenant": TENANT},
            timeout=30,
        )

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-8000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # serve stops its children itself
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # anything left in its group
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


def start_server(
    root: Path,
    env_extra: dict[str, str] | None = None,
    *,
    ready_timeout: float = 60,
    **settings: str,
) -> Server:
    """Start `quarterdeck serve --port P --data-dir D` and wait until the API answers
    (at most `ready_timeout` seconds).

    `settings` become `QD_<NAME>` variables; `env_extra` is added to its environment as is."""
    port = free_port()
    data_dir = root / "data"
    log = root / "serve.log"
    env = without_settings()
    env.update(env_extra or {})
    env["QD_ADMIN_PASSWORD"] = PASSWORD
    env.update({f"QD_{name.upper()}": value for name, value in settings.items()})
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "manager.cli",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, port, data_dir, log)
    try:
        wait_for_http(
            f"{server.url}/api/v3.1/status", max(ready_timeout, 120), auth=("admin", PASSWORD)
        )
        # Ready means its worker announced itself too (/status is OK only then).
        wait_until(
            lambda: (
                httpx.get(
                    f"{server.url}/api/v3.1/status", auth=("admin", PASSWORD), timeout=5
                ).json()["status"]
                == "OK"
            ),
            120,
            what="status OK with the embedded worker",
        )
    except TimeoutError:
        server.stop()
        raise AssertionError(f"quarterdeck serve did not start:\n{server.logs()}") from None
    return server


@dataclass
class Result:
    args: tuple[str, ...]
    rc: int
    output: str

    def __str__(self) -> str:
        return f"$ cfy {' '.join(self.args)}\n[rc={self.rc}]\n{self.output}"


@dataclass
class Cfy:
    """The CLI of one user: its own HOME holds its profiles."""

    bin_dir: Path
    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CLOUDIFY_", "CFY_", "VIRTUAL_ENV", "PYTHON"))
        }
        env.update(
            {
                "HOME": str(self.home),
                "PATH": f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
                # cloudify 7.0.5 imports pkg_resources, which warns on every start.
                "PYTHONWARNINGS": "ignore",
                "COLUMNS": "250",
                **self.extra_env,
            }
        )
        return env

    def run(
        self, *args: str, rc: int | None = 0, cwd: Path | None = None, timeout: float = CFY_TIMEOUT
    ) -> Result:
        """Run `cfy ARGS`; asserts the exit code unless `rc` is None."""
        self.home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [str(self.bin_dir / "cfy"), *args],
            env=self.env(),
            cwd=cwd or self.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        result = Result(args, done.returncode, done.stdout)
        if rc is not None:
            assert result.rc == rc, f"expected rc={rc}\n{result}"
        return result

    def json(self, *args: str) -> Any:
        """`cfy ARGS --json`, parsed."""
        result = self.run(*args, "--json")
        start = min(i for i in (result.output.find("["), result.output.find("{")) if i >= 0)
        return json.loads(result.output[start:])

    def python(self, script: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """A script run by the CLI venv's interpreter (it has cloudify_rest_client)."""
        return subprocess.run(
            [str(self.bin_dir / "python"), str(script), *args],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CFY_TIMEOUT * 2,
        )


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path -> text) under root; scripts become executable."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if name.endswith((".sh", ".py")):
            path.chmod(0o755)
    return root
