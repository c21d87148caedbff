"""Operations never see the manager's secrets: a real `quarterdeck serve` runs a blueprint
whose operations (a bash script, a Python script, a plugin in its own venv) try to read
them, and record what they got as runtime properties."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_plugins import cfy_zip
from tests.api.uploads import cfy_archive
from tests.compat.reference_env import ReferenceUnavailable
from tests.conftest import BACKENDS, _drop_postgres_database, fresh_database_url
from tests.support import (
    command_line,
    descendants,
    free_port,
    kill_tree,
    operation_python,
    wait_for_http,
    wait_until,
    without_settings,
)
from tests.workers.cloudify_plugin import PLUGIN_YAML, build_cloudify_wagon

pytestmark = pytest.mark.slow

PASSWORD = "isolation-test-password"
OPERATION_USER = "quarterdeck-op"
IS_ROOT = os.geteuid() == 0
BACKEND_PATH = Path(__file__).parents[1] / "workers" / "plugins" / "qd_backend.py"
# What the worker has and operations may get: the base allow-list, proxies, and the
# operator's patterns (QD_* among them, which must be refused all the same).
OPERATOR_ENV = {
    "QD_OPERATION_ENV": "AWS_*,MY_VAR,QD_*",
    "MY_VAR": "my-value",
    "AWS_REGION": "eu-test-1",
    "NOT_LISTED": "hidden",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "https_proxy": "http://proxy.invalid:3128",
    "no_proxy": "127.0.0.1,localhost",
}

# Shared by the Python script and the plugin: try every read, return what happened.
PROBE = """
import os
import socket


def attempt(action):
    try:
        action()
    except OSError as exc:
        return "denied: " + type(exc).__name__
    return "read"


def connect(path):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)


def probe(targets):
    found = {
        "secrets": attempt(lambda: open(targets["secrets"], "rb").read()),
        "blueprint_file": attempt(lambda: open(targets["blueprint_file"], "rb").read()),
        "list_data_dir": attempt(lambda: os.listdir(targets["data_dir"])),
        "redis_socket": attempt(lambda: connect(targets["redis_socket"])),
        "uid": os.getuid(),
        "home": os.environ.get("HOME"),
        "cwd": os.getcwd(),
        "qd_env": sorted(n for n in os.environ if n.startswith("QD_")),
        "env": {n: os.environ.get(n) for n in ("MY_VAR", "AWS_REGION", "NOT_LISTED",
                                               "LANG", "TZ", "https_proxy", "no_proxy")},
    }
    for path in targets["database_files"]:
        name = "db:" + os.path.basename(path).replace(".", "_")
        found[name] = attempt(lambda: open(path, "rb").read())
    for pid in targets["pids"]:
        found["environ:" + str(pid)] = attempt(
            lambda: open("/proc/%s/environ" % pid, "rb").read()
        )
    return found
"""

PYTHON_SCRIPT = (
    PROBE
    + """
import json
from cloudify import ctx

ctx.instance.runtime_properties["probe"] = probe(json.loads(os.environ["TARGETS"]))
"""
)

PLUGIN_MODULE = (
    PROBE
    + """
from quarterdeck import ctx


def run(targets):
    ctx.instance.runtime_properties["probe"] = probe(targets)
"""
)

BASH_SCRIPT = """#!/bin/bash
attempt() { if "$@" >/dev/null 2>&1; then echo read; else echo denied; fi; }
ctx instance runtime-properties secrets "$(attempt cat "$SECRETS")"
ctx instance runtime-properties blueprint_file "$(attempt cat "$BLUEPRINT_FILE")"
ctx instance runtime-properties list_data_dir "$(attempt ls "$DATA_DIR")"
for path in $DATABASE_FILES; do
  name=$(basename "$path")
  ctx instance runtime-properties "db:${name//./_}" "$(attempt cat "$path")"
done
for pid in $PIDS; do
  ctx instance runtime-properties "environ:$pid" "$(attempt cat /proc/$pid/environ)"
done
ctx instance runtime-properties uid "$(id -u)"
ctx instance runtime-properties home "$HOME"
ctx instance runtime-properties cwd "$(pwd)"
ctx instance runtime-properties qd_env "$(env | cut -d= -f1 | grep '^QD_' | sort | tr '\\n' ' ')"
ctx instance runtime-properties my_var "${MY_VAR:-}"
ctx instance runtime-properties not_listed "${NOT_LISTED:-}"
"""

BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
inputs:
  targets: {}
  secrets: {type: string}
  blueprint_file: {type: string}
  data_dir: {type: string}
  database_files: {type: string}
  pids: {type: string}
plugins:
  probe:
    executor: central_deployment_agent
    package_name: qdprobe
    package_version: "1.0.0"
    source: qdprobe
node_templates:
  bash_probe:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/probe.sh
          inputs:
            SECRETS: {get_input: secrets}
            BLUEPRINT_FILE: {get_input: blueprint_file}
            DATA_DIR: {get_input: data_dir}
            DATABASE_FILES: {get_input: database_files}
            PIDS: {get_input: pids}
  python_probe:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/probe.py
          inputs:
            TARGETS: {get_input: targets}
  plugin_probe:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: probe.qdprobe.run
          inputs:
            targets: {get_input: targets}
"""

# The bash probe again, through cloudify-common's own script runner in the venv of a plugin
# bundling it: the `cloudify.dispatch` subprocess path.
CLOUDIFY_BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
  - plugin:qdcfyplugin
inputs:
  secrets: {type: string}
  blueprint_file: {type: string}
  data_dir: {type: string}
  database_files: {type: string}
  pids: {type: string}
node_templates:
  cloudify_probe:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: qdcfy.script_runner.tasks.run
          inputs:
            script_path: scripts/probe.sh
            SECRETS: {get_input: secrets}
            BLUEPRINT_FILE: {get_input: blueprint_file}
            DATA_DIR: {get_input: data_dir}
            DATABASE_FILES: {get_input: database_files}
            PIDS: {get_input: pids}
"""

PYPROJECT = """
[build-system]
requires = []
build-backend = "qd_backend"
backend-path = ["."]

[project]
name = "qdprobe"
version = "1.0.0"
"""


class Server:
    """A `quarterdeck serve` whose data directory the operation user can pass through."""

    def __init__(self, root: Path, database_url: str, operation_user: str = OPERATION_USER) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = without_settings()
        env.update(OPERATOR_ENV)
        env["QD_ADMIN_PASSWORD"] = PASSWORD
        env["QD_OPERATION_USER"] = operation_user if IS_ROOT else ""
        if database_url:
            env["QD_DATABASE_URL"] = database_url
        python = operation_python() if IS_ROOT and operation_user else None
        if python:
            env["QD_OPERATION_PYTHON"] = python
        self.log = root / "serve.log"
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "manager.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(
            base_url=self.url + "/api/v3.1",
            auth=("admin", PASSWORD),
            headers={"Tenant": "default_tenant"},
            timeout=60,
        )

    def wait_ready(self) -> None:
        wait_for_http(f"{self.url}/api/v3.1/status", 120, auth=("admin", PASSWORD))
        # Ready once the worker made its start-up checks (the data directory's mode) and
        # announced itself: /status is OK only then.
        wait_until(
            lambda: self.client.get("/status").json()["status"] == "OK",
            120,
            what="status OK with the worker",
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self, role: str) -> list[int]:
        return sorted(
            pid
            for pid in descendants(self.process.pid)
            if f"manager.cli {role}" in command_line(pid)
        )

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            kill_tree(self.process.pid)
            self.process.wait()

    def install(
        self, files: dict[str, str | bytes], inputs: dict[str, Any], name: str = "probe"
    ) -> dict[str, Any]:
        response = self.client.put(
            f"/blueprints/{name}",
            data={
                "params": json.dumps(
                    {
                        "visibility": "tenant",
                        "async_upload": True,
                        "application_file_name": "blueprint.yaml",
                    }
                )
            },
            files={"blueprint_archive": ("filename", cfy_archive(files), "text/plain")},
        )
        assert response.status_code in (200, 201), response.text
        response = self.client.put(
            f"/deployments/{name}", json={"blueprint_id": name, "inputs": inputs}
        )
        assert response.status_code in (200, 201), response.text
        response = self.client.post(
            "/executions", json={"deployment_id": name, "workflow_id": "install"}
        )
        assert response.status_code == 201, response.text
        execution_id = response.json()["id"]
        deadline = time.monotonic() + 300
        while True:
            execution = self.client.get(f"/executions/{execution_id}").json()
            if execution["status"] in ("terminated", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, f"install still running\n{self.output()[-5000:]}"
            time.sleep(0.2)
        if execution["status"] != "terminated":
            events = self.client.get(
                "/events", params={"execution_id": execution_id, "_size": 200}
            ).json()["items"]
            messages = "\n".join(str(e.get("message")) for e in events)
            raise AssertionError(f"install {execution['status']}: {execution}\n{messages}")
        items = self.client.get("/node-instances", params={"deployment_id": name}).json()
        return {i["node_id"]: i["runtime_properties"] for i in items["items"]}


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    if IS_ROOT and operation_python() is None:
        pytest.skip("no Python interpreter the operation user can run (QD_OPERATION_PYTHON)")
    # Not under pytest's own temporary directory (mode 0700): the operation user must pass
    # through the data directory's parents to reach the venvs, as on a real host.
    root = Path(tempfile.mkdtemp(prefix="qd-isolation-"))
    os.chmod(root, 0o711)
    database_url, to_drop = "", None
    if request.param == "postgresql":
        database_url, to_drop = fresh_database_url("postgresql", root)
    served = Server(root, database_url)
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()
        if to_drop:
            _drop_postgres_database(to_drop)
        shutil.rmtree(root, ignore_errors=True)


def probe_blueprint() -> dict[str, str | bytes]:
    return {
        "blueprint.yaml": BLUEPRINT,
        "scripts/probe.sh": BASH_SCRIPT,
        "scripts/probe.py": PYTHON_SCRIPT,
        "plugins/qdprobe/pyproject.toml": PYPROJECT,
        "plugins/qdprobe/qd_backend.py": BACKEND_PATH.read_text(),
        "plugins/qdprobe/qdprobe/__init__.py": PLUGIN_MODULE,
    }


def probe_inputs(served: Server) -> dict[str, Any]:
    data_dir = served.data_dir.resolve()
    database_files = [str(p) for p in sorted(data_dir.glob("quarterdeck.db*"))]
    # Every process of the manager: serve itself, the API, the worker and its pool, Redis.
    pids = sorted({served.process.pid, *descendants(served.process.pid)})
    targets = {
        "secrets": str(data_dir / "secrets.json"),
        # Every tenant's uploads; this file exists once the probe blueprint is uploaded.
        "blueprint_file": str(data_dir / "files/blueprints/default_tenant/probe/blueprint.yaml"),
        "data_dir": str(data_dir),
        "redis_socket": str(data_dir / "redis.sock"),
        "database_files": database_files,
        "pids": pids,
    }
    return {
        "targets": targets,
        "secrets": targets["secrets"],
        "blueprint_file": targets["blueprint_file"],
        "data_dir": targets["data_dir"],
        "database_files": " ".join(database_files),
        "pids": " ".join(str(p) for p in pids),
    }


def test_operations_cannot_read_the_managers_secrets(server: Server) -> None:
    if not IS_ROOT:
        pytest.skip(
            "not root: operations share the worker's user, so the reads are not refused "
            "(the worker says so at start-up)"
        )
    inputs = probe_inputs(server)
    assert len(inputs["targets"]["pids"]) >= 4, server.output()[-3000:]
    found = server.install(probe_blueprint(), inputs)
    assert Path(inputs["blueprint_file"]).is_file()  # (so its read failed for want of rights)
    operation_uid = pwd.getpwnam(OPERATION_USER).pw_uid
    targets = inputs["targets"]
    reads = ["secrets", "list_data_dir", "blueprint_file"]
    # (`ctx` reads dots in a key as a path: the file names are stored with underscores)
    reads += [f"db:{Path(p).name.replace('.', '_')}" for p in targets["database_files"]]
    reads += [f"environ:{pid}" for pid in targets["pids"]]
    for node in ("bash_probe", "python_probe", "plugin_probe"):
        props = found[node]
        if node != "bash_probe":
            props = props["probe"]
            assert props["redis_socket"].startswith("denied"), (node, props)
        for read in reads:
            assert str(props[read]).startswith("denied"), (node, read, props)
        assert int(props["uid"]) == operation_uid, (node, props)
        home = Path(str(props["home"]))
        # A HOME of its own, outside the data directory's secret files, owned by that user.
        assert home != Path("/root") and not home.is_relative_to(server.data_dir / "files")
        assert str(props["cwd"]) == str(home) or node == "plugin_probe", (node, props)
    assert found["bash_probe"]["qd_env"].split() == ["QD_CTX_SOCKET"]
    assert found["python_probe"]["probe"]["qd_env"] == ["QD_CTX_SOCKET"]
    assert found["plugin_probe"]["probe"]["qd_env"] == []
    assert found["plugin_probe"]["probe"]["cwd"] == found["plugin_probe"]["probe"]["home"]


def test_allow_listed_environment_reaches_operations(server: Server) -> None:
    found = server.install(probe_blueprint(), probe_inputs(server))
    expected: dict[str, str | None] = {
        k: v for k, v in OPERATOR_ENV.items() if not k.startswith("QD_")
    }
    expected["NOT_LISTED"] = None  # not named by the operator
    for node in ("python_probe", "plugin_probe"):
        assert found[node]["probe"]["env"] == expected, node
    assert found["bash_probe"]["my_var"] == "my-value"
    assert found["bash_probe"]["not_listed"] == ""


def test_the_worker_has_its_token_and_none_of_the_managers_secrets(server: Server) -> None:
    (worker, *_) = server.pids("worker")
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{worker}/environ").read_text().split("\0")
        if "=" in item
    )
    assert environ.get("QD_WORKER_TOKEN")
    for withheld in ("QD_SECRET_KEY", "QD_ADMIN_PASSWORD", "QD_DATABASE_URL"):
        assert withheld not in environ, withheld
    mode = server.data_dir.stat().st_mode & 0o777
    assert mode == (0o711 if IS_ROOT else 0o700), oct(mode)
    assert (server.data_dir / "secrets.json").stat().st_mode & 0o077 == 0
    for database_file in server.data_dir.glob("quarterdeck.db*"):
        assert database_file.stat().st_mode & 0o077 == 0, database_file
    if IS_ROOT:
        assert f"operations run as the user {OPERATION_USER}" in server.output()
    else:
        assert "operations run as this worker's own user" in server.output()


def test_cloudify_dispatch_operations_cannot_read_the_managers_secrets(
    server: Server, tmp_path: Path
) -> None:
    if not IS_ROOT:
        pytest.skip("not root: operations share the worker's user (see the start-up warning)")
    try:
        wagon = build_cloudify_wagon(tmp_path)
    except ReferenceUnavailable as exc:
        pytest.skip(f"cloudify-common 7.0.5 wheels are not available (no PyPI?): {exc}")
    upload = server.client.post(
        "/plugins",
        params={"visibility": "tenant"},
        content=cfy_zip({wagon.name: wagon.read_bytes(), "plugin.yaml": PLUGIN_YAML}),
        headers={"Content-Type": "application/json"},
    )
    assert upload.status_code == 201, upload.text
    inputs = probe_inputs(server)
    del inputs["targets"]
    inputs["blueprint_file"] = inputs["blueprint_file"].replace("/probe/", "/cfyprobe/")
    files: dict[str, str | bytes] = {
        "blueprint.yaml": CLOUDIFY_BLUEPRINT,
        "scripts/probe.sh": BASH_SCRIPT,
    }
    props = server.install(files, inputs, name="cfyprobe")["cloudify_probe"]
    assert Path(inputs["blueprint_file"]).is_file()
    reads = ["secrets", "list_data_dir", "blueprint_file"]
    reads += [f"db:{Path(p).name.replace('.', '_')}" for p in inputs["database_files"].split()]
    reads += [f"environ:{pid}" for pid in inputs["pids"].split()]
    for read in reads:
        assert str(props[read]).startswith("denied"), (read, props)
    assert int(props["uid"]) == pwd.getpwnam(OPERATION_USER).pw_uid, props
    assert props["qd_env"].split() == [], props
    assert props["my_var"] == "my-value" and props["not_listed"] == "", props


def test_operations_sharing_the_workers_user_are_announced_and_the_data_dir_is_private(
    tmp_path: Path,
) -> None:
    """Without a separate user (not root, or QD_OPERATION_USER empty) the worker warns at
    start-up; the data directory is then private to the user, its secret files too."""
    served = Server(tmp_path, "", operation_user="")
    try:
        served.wait_ready()
        wait_until(lambda: "operations run as this worker's own user" in served.output(), 30)
        assert served.data_dir.stat().st_mode & 0o777 == 0o700
        assert (served.data_dir / "secrets.json").stat().st_mode & 0o077 == 0
        for database_file in served.data_dir.glob("quarterdeck.db*"):
            assert database_file.stat().st_mode & 0o077 == 0, database_file
        # Still an allow-listed environment, without the worker's token.
        found = served.install(probe_blueprint(), probe_inputs(served))
        assert found["plugin_probe"]["probe"]["qd_env"] == []
        assert found["plugin_probe"]["probe"]["env"]["NOT_LISTED"] is None
    finally:
        served.stop()


def test_a_root_worker_whose_operation_user_cannot_run_operations_refuses_to_start(
    tmp_path: Path,
) -> None:
    """Under pytest's temporary directory (mode 0700) the operation user cannot reach the
    venvs: the worker says so, naming the user and the paths, instead of running
    operations as root."""
    if not IS_ROOT:
        pytest.skip("not root: there is no operation user to check")
    env = without_settings()
    env.update(
        {
            "QD_OPERATION_USER": OPERATION_USER,
            "QD_WORKER_TOKEN": "token",
            "QD_API_URL": "http://127.0.0.1:9",
            "QD_BROKER_URL": "redis://127.0.0.1:9/0",
            "QD_DATA_DIR": str(tmp_path / "data"),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "manager.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert f"the operation user {OPERATION_USER} cannot run operations" in done.stderr
    assert str(tmp_path / "data" / "work") in done.stderr


# A source plugin whose build backend (run by the venv build) tries the same reads, and
# bakes what it got into the package it builds; its operation hands that back, and tries
# to change the venv it runs in.
SNOOP_BACKEND = """
import json
import os

import qd_backend

get_requires_for_build_wheel = qd_backend.get_requires_for_build_wheel


def attempt(path):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read()
    except OSError as exc:
        return "denied: " + type(exc).__name__
    return "read"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("targets.json") as handle:
        targets = json.load(handle)
    found = {name: attempt(path) for name, path in targets.items()}
    found["uid"] = os.getuid()
    found["qd_env"] = sorted(n for n in os.environ if n.startswith("QD_"))
    found["home"] = os.environ.get("HOME")
    found["uv_cache"] = os.environ.get("UV_CACHE_DIR")
    with open(os.path.join("qdsnoop", "_built.py"), "w") as handle:
        handle.write("FOUND = " + repr(found) + "\\n")
    return qd_backend.build_wheel(wheel_directory, config_settings, metadata_directory)
"""

SNOOP_PYPROJECT = """
[build-system]
requires = []
build-backend = "snoop_backend"
backend-path = ["."]

[project]
name = "qdsnoop"
version = "1.0.0"
"""

SNOOP_MODULE = """
import os
import sys

from quarterdeck import ctx


def attempt(action):
    try:
        action()
    except OSError as exc:
        return "denied: " + type(exc).__name__
    return "written"


def append(path):
    with open(path, "a") as handle:
        handle.write("# tampered\\n")


def run():
    from qdsnoop._built import FOUND

    package = os.path.dirname(__file__)
    ctx.instance.runtime_properties["build"] = FOUND
    ctx.instance.runtime_properties["venv"] = sys.prefix
    ctx.instance.runtime_properties["uid"] = os.getuid()
    ctx.instance.runtime_properties["writes"] = {
        "module": attempt(lambda: append(os.path.join(package, "__init__.py"))),
        "new_file": attempt(lambda: append(os.path.join(package, "planted.py"))),
        "venv_root": attempt(lambda: append(os.path.join(sys.prefix, "planted"))),
        "python": attempt(lambda: append(os.path.join(sys.prefix, "pyvenv.cfg"))),
    }
"""

SNOOP_BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
plugins:
  snoop:
    executor: central_deployment_agent
    package_name: qdsnoop
    package_version: "1.0.0"
    source: qdsnoop
node_templates:
  snoop:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: snoop.qdsnoop.run
"""


def test_a_source_plugins_build_cannot_read_the_managers_secrets_nor_leave_a_writable_venv(
    server: Server,
) -> None:
    if not IS_ROOT:
        pytest.skip("not root: plugin builds share the worker's user (see the start-up warning)")
    targets = probe_inputs(server)["targets"]
    reads = {"secrets": targets["secrets"], "data_dir": targets["data_dir"]}
    reads["plugin_archives"] = str(Path(targets["data_dir"]) / "work" / "plugin-archives")
    for path in targets["database_files"]:
        reads["db:" + Path(path).name.replace(".", "_")] = path
    for pid in targets["pids"]:
        reads[f"environ:{pid}"] = f"/proc/{pid}/environ"
    files: dict[str, str | bytes] = {
        "blueprint.yaml": SNOOP_BLUEPRINT,
        "plugins/qdsnoop/pyproject.toml": SNOOP_PYPROJECT,
        "plugins/qdsnoop/snoop_backend.py": SNOOP_BACKEND,
        "plugins/qdsnoop/qd_backend.py": BACKEND_PATH.read_text(),
        "plugins/qdsnoop/targets.json": json.dumps(reads),
        "plugins/qdsnoop/qdsnoop/__init__.py": SNOOP_MODULE,
    }
    props = server.install(files, {}, name="snoop")["snoop"]
    operation_uid = pwd.getpwnam(OPERATION_USER).pw_uid
    assert int(props["uid"]) == operation_uid, props  # the operation ran, as that user
    built = props["build"]
    # The build ran as the operation user, without the worker's settings or root's cache.
    assert built["uid"] == operation_uid, built
    assert built["qd_env"] == [], built
    work = server.data_dir.resolve() / "work"
    assert Path(built["uv_cache"]).is_relative_to(work), built
    assert Path(built["home"]).is_relative_to(work), built
    assert len(reads) >= 7, reads
    for read in reads:
        assert str(built[read]).startswith("denied"), (read, built)
    # The venv was handed back to the worker's user: the operation user cannot change it.
    for write, outcome in props["writes"].items():
        assert outcome.startswith("denied"), (write, props["writes"])
    venv = Path(props["venv"])
    assert venv.is_relative_to(work / "venvs"), venv
    marker = json.loads((venv / ".quarterdeck-venv.json").read_text())
    assert marker["built_as"] == OPERATION_USER, marker
    for path in [venv, *venv.rglob("*")]:
        info = path.lstat()
        assert info.st_uid == 0, path
        if not path.is_symlink():
            assert info.st_mode & 0o7022 == 0, (path, oct(info.st_mode))
    # Its staging directory (copied sources, HOME, uv cache) is gone.
    assert not list(venv.parent.glob(".build-*")), list(venv.parent.iterdir())
