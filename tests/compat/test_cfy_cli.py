"""The unmodified Cloudify CLI 7.0.5 (`cfy`) and its REST client drive a real `quarterdeck serve`.

`cloudify==7.0.5` is installed once into a cached virtualenv (tests/compat/cfy_env.py); when it
cannot be installed (no network, say) every test here is skipped with that reason. One
`quarterdeck serve` (Redis, SQLite, API, worker, watchdog) serves the whole module.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.cfy_blueprints import (
    FAILING_FILES,
    INVALID,
    NEEDS_SECRET,
    PLUGIN_YAML,
    SLOW_FILES,
    TIERS_FILES,
    TRIVIAL,
)
from tests.compat.cfy_harness import PASSWORD, Cfy, Server, start_server, write_tree
from tests.support import wait_until

pytestmark = pytest.mark.slow

REST_CLIENT_FLOW = Path(__file__).parent / "rest_client_flow.py"
REST_CLIENT_SEARCHES = Path(__file__).parent / "rest_client_searches.py"
INSTALL_ORDER = [
    "host create",
    "db create",
    "db configure-attempt-1",
    "db configure-attempt-2",
    "db configure-attempt-3",
    "app create",
    "app preconfigure",
    "app start",
]
UNINSTALL_ORDER = ["app stop", "db delete", "host delete"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def server(cfy_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Scripts that exit non-zero are retried; no waiting between attempts keeps this fast.
    running = start_server(
        tmp_path_factory.mktemp("serve"), task_retries="2", task_retry_interval="0"
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cfy(cfy_bin: Path, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Cfy:
    """The admin's CLI, with a profile for the server (`cfy profiles use`)."""
    cli = Cfy(cfy_bin, tmp_path_factory.mktemp("home"))
    result = cli.run(
        "profiles", "use", "127.0.0.1", "-u", "admin", "-p", PASSWORD,
        "-t", "default_tenant", "--rest-port", str(server.port),
    )  # fmt: skip
    assert f"Using manager 127.0.0.1 with port {server.port}" in result.output, result
    return cli


@pytest.fixture(scope="module")
def tiers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("tiers") / "tiers", TIERS_FILES)


def _trace(path: Path, ids: dict[str, str]) -> list[str]:
    """The trace with instance ids replaced by their node names."""
    names = {instance: node for node, instance in ids.items()}
    lines = []
    for line in path.read_text().splitlines():
        who, what = line.split(" ", 1)
        lines.append(f"{names.get(who, who)} {what.split(' ')[0]}")
    return lines


def _execution_id(output: str) -> str:
    found = re.search(r"cfy events list ([0-9a-f-]{36})", output)
    assert found, output
    return found.group(1)


# --- the manager itself --------------------------------------------------------------------


def test_status_lists_the_services(cfy: Cfy) -> None:
    result = cfy.run("status")
    assert "Database" in result.output and "Broker" in result.output, result
    assert "Active" in result.output, result
    assert "Community edition" in cfy.run("--version").output


def test_wrong_password_is_refused(cfy_bin: Path, server: Server, tmp_path: Path) -> None:
    stranger = Cfy(cfy_bin, tmp_path / "home")
    result = stranger.run(
        "profiles", "use", "127.0.0.1", "-u", "admin", "-p", "not-the-password",
        "-t", "default_tenant", "--rest-port", str(server.port), rc=1,
    )  # fmt: skip
    assert "Can't use manager 127.0.0.1" in result.output, result
    assert "401: User unauthorized" in result.output, result


# --- the core flow -------------------------------------------------------------------------


def test_install_outputs_runtime_properties_uninstall(
    cfy: Cfy, server: Server, tiers_dir: Path, tmp_path: Path
) -> None:
    blueprint, deployment = unique("tiers"), unique("dep")
    trace = tmp_path / "trace.txt"
    api = server.api()

    assert (
        "Secret `tiers_db_password` created"
        in cfy.run("secrets", "create", "tiers_db_password", "-s", "s3cret-value", "-u").output
    )

    upload = cfy.run("blueprints", "upload", str(tiers_dir / "blueprint.yaml"), "-b", blueprint)
    assert f"Blueprint uploaded. The blueprint's id is {blueprint}" in upload.output, upload
    listed = cfy.run("blueprints", "list")
    assert blueprint in listed.output and "uploaded" in listed.output, listed
    assert re.search(r"Showing \d+ of \d+ blueprints", listed.output), listed
    shown = cfy.run("blueprints", "get", blueprint)
    assert "Three tiers whose scripts record their order." in shown.output, shown
    downloaded = cfy.run("blueprints", "download", blueprint, "-o", str(tmp_path / "bp.tar.gz"))
    assert "Blueprint downloaded as" in downloaded.output, downloaded
    with tarfile.open(tmp_path / "bp.tar.gz") as archive:
        assert f"{blueprint}/scripts/db_configure.py" in archive.getnames()

    created = cfy.run(
        "deployments", "create", deployment, "-b", blueprint,
        "-i", f"trace_file={trace}", "-i", "port=9090", "-i", "db_name=orders",
    )  # fmt: skip
    assert f"Deployment `{deployment}` created. The deployment's id is {deployment}" in (
        created.output
    ), created
    inputs = api.get(f"/deployments/{deployment}", params={"_include": "inputs"}).json()
    assert inputs["inputs"]["port"] == 9090, inputs  # `-i port=9090` arrives as a string
    shown_inputs = cfy.run("deployments", "inputs", deployment)
    assert '"db_name":' in shown_inputs.output and "Value: orders" in shown_inputs.output

    install = cfy.run("executions", "start", "install", "-d", deployment)
    assert f"Finished executing workflow install on deployment {deployment}" in install.output
    for expected in (
        f"CFY <{deployment}> Starting 'install' workflow execution",
        f"CFY <{deployment}> 'install' workflow execution succeeded",
        "Task failed 'script_runner.tasks.run' -> database not ready yet (attempt 1)",
        "INFO: database orders configured on attempt 3",
        "INFO: app listening on 9090",
    ):
        assert expected in install.output, f"{expected!r} missing:\n{install}"
    assert re.search(r"\[app_\w+->db_\w+\|preconfigure\] Task succeeded", install.output)

    instances = cfy.json("node-instances", "list", "-d", deployment)
    assert {i["node_id"]: i["state"] for i in instances} == {
        "app": "started",
        "db": "started",
        "host": "started",
    }, instances
    ids = {i["node_id"]: i["id"] for i in instances}
    assert _trace(trace, ids) == INSTALL_ORDER

    outputs = cfy.run("deployments", "outputs", deployment)
    for expected in (
        '"endpoint":',
        "Description: Where the app listens.",
        "Value: http://10.1.2.3:9090",
        "Value: db://orders:5432",
    ):
        assert expected in outputs.output, outputs
    evaluated = api.get(f"/deployments/{deployment}/outputs").json()["outputs"]
    assert evaluated == {
        "endpoint": "http://10.1.2.3:9090",
        "database": "db://orders:5432",
        "db_attempts": 3,
    }

    app = api.get(f"/node-instances/{ids['app']}").json()
    assert app["runtime_properties"] == {
        "db_url": "db://orders:5432",
        "port": 9090,
        "password_length": len("s3cret-value"),
    }
    updated = cfy.run(
        "node-instances", "update-runtime", ids["app"], "-p", "tier.name=frontend", "-p", "port=1"
    )
    assert f'Successfully updated the runtime properties of "{ids["app"]}"' in updated.output
    after = api.get(f"/node-instances/{ids['app']}").json()
    # The CLI sends the version it read plus one; the server counts one update.
    assert after["version"] == app["version"] + 1
    assert after["runtime_properties"] == {
        **app["runtime_properties"],
        "tier": {"name": "frontend"},
        "port": "1",  # `-p` values are strings
    }

    execution_id = _execution_id(install.output)
    executions = cfy.run("executions", "list", "-d", deployment)
    assert execution_id in executions.output and "completed" in executions.output, executions
    events = cfy.run("events", "list", execution_id, "--from", "2000-01-01 00:00:00")
    assert re.search(r"Showing (\d+) of \1 events", events.output), events
    later = cfy.run("events", "list", execution_id, "--from", "2999-01-01 00:00:00")
    assert "Showing 0 of 0 events" in later.output, later

    refused = cfy.run("deployments", "delete", deployment, rc=1)
    assert "There are live nodes for this deployment" in refused.output, refused

    trace.write_text("")
    uninstall = cfy.run("executions", "start", "uninstall", "-d", deployment)
    assert f"Finished executing workflow uninstall on deployment {deployment}" in (
        uninstall.output
    ), uninstall
    assert _trace(trace, ids) == UNINSTALL_ORDER
    after_uninstall = cfy.json("node-instances", "list", "-d", deployment)
    assert {i["state"] for i in after_uninstall} == {"deleted"}, after_uninstall

    assert "Deployment deleted" in cfy.run("deployments", "delete", deployment).output
    assert api.get(f"/deployments/{deployment}").status_code == 404
    assert "Blueprint deleted" in cfy.run("blueprints", "delete", blueprint).output
    assert blueprint not in cfy.run("blueprints", "list").output


def test_cancel_a_running_execution(cfy: Cfy, server: Server, tmp_path: Path) -> None:
    blueprint = unique("slow")
    write_tree(tmp_path / "slow", SLOW_FILES)
    cfy.run("blueprints", "upload", str(tmp_path / "slow" / "blueprint.yaml"), "-b", blueprint)
    cfy.run("deployments", "create", blueprint, "-b", blueprint)
    api = server.api()
    waiting = subprocess.Popen(
        [str(cfy.bin_dir / "cfy"), "executions", "start", "install", "-d", blueprint],
        env=cfy.env(),
        cwd=cfy.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def running() -> str | None:
            items = api.get(
                "/executions", params={"deployment_id": blueprint, "workflow_id": "install"}
            ).json()["items"]
            sleeper = api.get("/node-instances", params={"deployment_id": blueprint}).json()
            creating = sleeper["items"][0]["state"] == "creating"
            return items[0]["id"] if items and creating else None

        execution_id = str(wait_until(running, 30))
        result = cfy.run("executions", "cancel", "--kill", execution_id)
        assert f"A cancel request for execution {execution_id} has been sent" in result.output
        output, _ = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert f"CFY <{blueprint}> 'install' workflow execution cancelled" in output, output
    assert api.get(f"/executions/{execution_id}").json()["status"] == "cancelled"
    shown = cfy.run("executions", "get", execution_id)
    assert "cancelled" in shown.output, shown


# --- secrets and plugins -------------------------------------------------------------------


def test_secrets_create_and_get(cfy: Cfy) -> None:
    key = unique("secret").replace("-", "_")
    assert f"Secret `{key}` created" in cfy.run("secrets", "create", key, "-s", "v@lue 1").output
    shown = cfy.run("secrets", "get", key)
    assert re.search(r"value:\s+v@lue 1", shown.output), shown
    again = cfy.run("secrets", "create", key, "-s", "other", rc=1)
    assert "409" in again.output and "already exists" in again.output, again
    assert key in cfy.run("secrets", "list").output


def test_plugins_upload(cfy: Cfy, server: Server, tmp_path: Path) -> None:
    from tests.workers.conftest import build_wagon, build_wheel

    wheels = [
        build_wheel(name, tmp_path / "wheels", tmp_path / "src")
        for name in ("qdtestplugin", "qddep")
    ]
    wagon = build_wagon("qdtestplugin", "1.0.0", wheels, tmp_path)
    plugin_yaml = tmp_path / "plugin.yaml"
    plugin_yaml.write_text(PLUGIN_YAML)
    result = cfy.run("plugins", "upload", str(wagon), "-y", str(plugin_yaml))
    found = re.search(r"Plugin uploaded\. Plugin's id is (\S+)", result.output)
    assert found, result
    plugin = server.api().get(f"/plugins/{found.group(1)}").json()
    assert (plugin["package_name"], plugin["package_version"]) == ("qdtestplugin", "1.0.0")
    assert found.group(1) in cfy.run("plugins", "list").output


def test_visibility_and_lists_across_tenants(cfy: Cfy, server: Server, tmp_path: Path) -> None:
    blueprint, tenant = unique("shared"), unique("tenant")
    write_tree(tmp_path / "small", {"blueprint.yaml": NEEDS_SECRET})
    main = str(tmp_path / "small" / "blueprint.yaml")
    cfy.run("blueprints", "upload", main, "-b", blueprint)
    assert (
        f"Blueprint `{blueprint}` was set to global"
        in cfy.run("blueprints", "set-visibility", blueprint, "-l", "global").output
    )
    assert server.api().get(f"/blueprints/{blueprint}").json()["visibility"] == "global"

    assert f"Tenant `{tenant}` created" in cfy.run("tenants", "create", tenant).output
    cfy.run("blueprints", "upload", main, "-b", f"{blueprint}-there", "-t", tenant)
    here = cfy.run("blueprints", "list").output
    everywhere = cfy.run("blueprints", "list", "--all-tenants").output
    assert f"{blueprint}-there" not in here and blueprint in here
    assert f"{blueprint}-there" in everywhere and tenant in everywhere, everywhere


# --- failure paths -------------------------------------------------------------------------


def test_invalid_blueprint_is_refused(cfy: Cfy, tmp_path: Path) -> None:
    write_tree(tmp_path / "invalid", {"blueprint.yaml": INVALID})
    result = cfy.run(
        "blueprints", "upload", str(tmp_path / "invalid" / "blueprint.yaml"), "-b", "invalid",
        rc=1,
    )  # fmt: skip
    assert "Invalid blueprint: Invalid blueprint - " in result.output, result
    assert "no.such.Type" in result.output, result


def test_missing_secret_is_refused(cfy: Cfy, tmp_path: Path) -> None:
    blueprint = unique("needs-secret")
    write_tree(tmp_path / "needs", {"blueprint.yaml": NEEDS_SECRET})
    cfy.run("blueprints", "upload", str(tmp_path / "needs" / "blueprint.yaml"), "-b", blueprint)
    result = cfy.run("deployments", "create", blueprint, "-b", blueprint, rc=1)
    assert "Unable to create deployment due to invalid secret" in result.output, result
    assert "Required secrets: [never_created_secret] don't exist in this tenant" in result.output


@pytest.fixture(scope="module")
def failing(cfy: Cfy, tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = write_tree(tmp_path_factory.mktemp("failing") / "failing", FAILING_FILES)
    cfy.run("blueprints", "upload", str(directory / "blueprint.yaml"), "-b", "failing")
    return "failing"


def test_missing_input_is_refused(cfy: Cfy, failing: str) -> None:
    result = cfy.run("deployments", "create", unique("nomode"), "-b", failing, rc=1)
    assert "Unable to create deployment: 400: " in result.output, result
    assert "mode" in result.output and "were not specified" in result.output, result
    unknown = cfy.run(
        "deployments", "create", unique("extra"), "-b", failing, "-i", "mode=exit",
        "-i", "colour=red", rc=1,
    )  # fmt: skip
    assert "Unable to create deployment: 400: " in unknown.output, unknown
    assert "colour" in unknown.output, unknown


@pytest.mark.parametrize(
    ("mode", "message", "attempts"),
    [
        ("exit", "exit_code: 1, stdout: , stderr: exiting with 1 on purpose", 2),
        ("abort", "the disk is on fire", 1),
        ("raise", "the python operation gave up", 1),
    ],
)
def test_failing_operation_fails_the_execution(
    cfy: Cfy, server: Server, failing: str, mode: str, message: str, attempts: int
) -> None:
    deployment = unique(mode)
    cfy.run("deployments", "create", deployment, "-b", failing, "-i", f"mode={mode}")
    result = cfy.run("executions", "start", "install", "-d", deployment, rc=1)
    assert f"Execution of workflow install for deployment {deployment} failed." in result.output
    assert re.search(r"\[error=.*" + re.escape(message), result.output), result
    assert result.output.count("Task failed 'script_runner.tasks.run'") == attempts, result
    assert "'install' workflow execution failed" in result.output, result
    execution = server.api().get(f"/executions/{_execution_id(result.output)}").json()
    assert execution["status"] == "failed" and message in execution["error"], execution


# --- the REST client -----------------------------------------------------------------------


def test_rest_client_drives_the_core_flow(
    cfy: Cfy, server: Server, tiers_dir: Path, tmp_path: Path
) -> None:
    cfy.run("secrets", "create", "tiers_db_password", "-s", "s3cret-value", "-u")
    request = {
        "port": server.port,
        "password": PASSWORD,
        "blueprint_dir": str(tiers_dir),
        "blueprint_id": unique("client"),
        "deployment_id": unique("client-dep"),
        "inputs": {"trace_file": str(tmp_path / "trace.txt"), "port": 7070},
    }
    (tmp_path / "request.json").write_text(json.dumps(request))
    started = time.monotonic()
    done = cfy.python(REST_CLIENT_FLOW, str(tmp_path / "request.json"))
    assert done.returncode == 0, done.stdout + done.stderr + server.logs()
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert time.monotonic() - started < 120
    assert seen["version"] == "7.0.5" and seen["status"] == "OK"
    assert seen["blueprint_state"] == "uploaded" and seen["upload_execution_id"]
    assert request["blueprint_id"] in seen["blueprints"]
    assert seen["blueprints_total"] >= 1
    assert seen["bad_include"]["class"] == seen["classes"]["bad_include"]
    assert seen["missing_input"]["class"] == seen["classes"]["missing_input"]
    assert {"install", "uninstall", "execute_operation"} <= set(seen["workflows"])
    assert seen["inputs"]["port"] == 7070
    assert seen["install_status"] == "terminated"
    assert seen["event_types"][0] == "workflow_started"
    assert seen["event_types"][-1] == "workflow_succeeded"
    assert "app listening on 7070" in seen["log_messages"]
    assert seen["events_page"] == [2, 3]
    assert seen["events_in_range"] == seen["events_total"]
    assert seen["outputs"]["endpoint"] == "http://10.1.2.3:7070"
    assert seen["instances"] == {"app": "started", "db": "started", "host": "started"}
    assert seen["app_version_step"] == 1 and seen["app_from_client"] == "yes"
    assert seen["stale_update"]["status"] == 409
    assert seen["stale_update"]["error_code"] == "conflict_error"
    assert seen["db_node_port"] == 5432
    assert seen["workflows_run"] == ["create_deployment_environment", "install"]
    assert seen["uninstall_status"] == "terminated"
    assert seen["deployment_gone"]["status"] == 404
    assert "not found" in seen["deployment_gone"]["message"]
    assert seen["blueprint_gone"]["status"] == 404
    assert seen["wrong_password"]["class"] == seen["classes"]["wrong_password"]
    assert seen["wrong_password"]["status"] == 401


def test_rest_client_searches_by_filter_rules(cfy: Cfy, server: Server, tmp_path: Path) -> None:
    """`client.<resource>.list(filter_rules=...)` and `constraints=...` post to
    `/searches/<resource>`; `cfy deployments list -lr` reports what the rules hid."""
    marker = unique("srch")
    write_tree(tmp_path / "bp", {"blueprint.yaml": TRIVIAL})
    request = {
        "port": server.port,
        "password": PASSWORD,
        "blueprint_dir": str(tmp_path / "bp"),
        "marker": marker,
    }
    (tmp_path / "request.json").write_text(json.dumps(request))
    done = cfy.python(REST_CLIENT_SEARCHES, str(tmp_path / "request.json"))
    assert done.returncode == 0, done.stdout + done.stderr + server.logs()
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["blueprints"] == [f"{marker}-bp"]
    assert seen["blueprint_labels"] == [["team", marker]]
    assert seen["prod"] == [f"{marker}-prod"]
    assert seen["prod_metadata"]["pagination"]["total"] == 1
    assert seen["prod_metadata"]["filtered"] >= 1
    assert seen["not_prod"] == [f"{marker}-dev"]
    assert seen["by_attribute_page"] == [f"{marker}-prod"]
    assert seen["by_attribute_pagination"] == {"total": 2, "size": 1, "offset": 1}
    assert seen["constrained"] == [f"{marker}-dev"]
    assert seen["secrets"] == [f"{marker}_key"]
    assert {"install", "uninstall"} <= set(seen["workflows"])
    assert seen["bad_rule"] == {
        "status": 400,
        "err_filter_rule": {
            "key": "colour", "values": ["red"], "operator": "any_of", "type": "attribute"
        },
        "err_reason": "Unknown attribute `colour`: deployments can be filtered by "
        "blueprint_id, created_by, display_name, id, installation_status, schedules, "
        "site_name, tenant_name",
    }  # fmt: skip
    assert seen["cluster_initialized"] is True

    listed = cfy.run("deployments", "list", "-lr", f"team={marker}", "-lr", "env!=prod")
    assert f"{marker}-dev" in listed.output and f"{marker}-prod" not in listed.output, listed
    assert re.search(r"Showing 1 of 1 deployments \(\d+ hidden by filter\)", listed.output), listed
    blueprints = cfy.run("blueprints", "list", "-ar", f"id starts-with {marker}")
    assert re.search(r"Showing 1 of 1 blueprints \(\d+ hidden by filter\)", blueprints.output), (
        blueprints
    )


# --- custom workflows ----------------------------------------------------------------------


def test_custom_workflow_started_with_parameters(cfy: Cfy, server: Server, tmp_path: Path) -> None:
    from tests.engine.custom_workflows import files, read_touches

    blueprint = unique("custom")
    trace = tmp_path / "trace.txt"
    tree = {k: v for k, v in files().items() if not k.startswith("plugins/")}
    tree["blueprint.yaml"] = _without_plugin_workflows(tree["blueprint.yaml"])
    write_tree(tmp_path / "custom", tree)
    cfy.run("blueprints", "upload", str(tmp_path / "custom" / "blueprint.yaml"), "-b", blueprint)
    cfy.run("deployments", "create", blueprint, "-b", blueprint, "-i", f"trace_file={trace}")
    result = cfy.run(
        "executions", "start", "scripted", "-d", blueprint, "-p", "label=cli", "-p", "count=1"
    )
    assert "'scripted' workflow execution succeeded" in result.output, result
    assert [label for _, _, label in read_touches(trace)] == ["cli-0", "cli-0"]
    refused = cfy.run(
        "executions", "start", "scripted", "-d", blueprint, "-p", "label=x", "-p", "count=many",
        rc=1,
    )  # fmt: skip
    assert "count" in refused.output, refused


def _without_plugin_workflows(blueprint: str) -> str:
    """The custom workflows blueprint with only its script workflow (no plugin to build)."""
    head, _, _ = blueprint.partition("plugins:\n")
    nodes = blueprint[blueprint.index("node_types:") : blueprint.index("  touch_all:")]
    return head + nodes
