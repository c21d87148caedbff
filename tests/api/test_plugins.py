"""The plugin registry over HTTP as `cfy plugins upload/list/get/download/delete` use it, with
real wagons, wheels and sdists, `plugin:` imports in blueprints, and a real venv built from
a downloaded wagon."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from manager.settings import Settings
from tests.api.uploads import upload as upload_blueprint
from tests.workers.conftest import PLUGINS, TENANT, build_wheel
from workers.venvs import PluginInstallError, VenvManager

API = "/api/v3.1/plugins"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# building plugins the way their authors do ---------------------------------------------------


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    scratch = tmp_path_factory.mktemp("plugin-src")
    return {name: build_wheel(name, out, scratch) for name in ("qdtestplugin", "qddep", "qdbroken")}


def wagon(
    package: str,
    version: str,
    wheels: list[Path],
    *,
    archive_name: str | None = None,
    fmt: str = "tar.gz",
    top: str | None = None,
) -> bytes:
    """A wagon as `wagon create` writes it: <package>/package.json and <package>/wheels/."""
    metadata = {
        "archive_name": archive_name or f"{package.replace('-', '_')}-{version}-py311-none-any.wgn",
        "build_server_os_properties": {
            "distribution": "ubuntu",
            "distribution_release": "noble",
            "distribution_version": "24.04",
        },
        "created_by_wagon_version": "1.0.1",
        "package_build_tag": None,
        "package_name": package,
        "package_source": package,
        "package_version": version,
        "supported_platform": "any",
        "supported_python_versions": ["py311"],
        "wheels": [w.name for w in wheels],
    }
    top = top or package
    files = {f"{top}/package.json": json.dumps(metadata).encode()}
    files.update({f"{top}/wheels/{w.name}": w.read_bytes() for w in wheels})
    buffer = io.BytesIO()
    if fmt == "zip":
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return buffer.getvalue()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def cfy_zip(members: dict[str, str | bytes]) -> bytes:
    """What `cfy plugins upload W.wgn -y plugin.yaml [-i icon.png]` sends: a flat zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sdist(name: str, version: str) -> bytes:
    """A source distribution of a one-module package, built by the stdlib test backend."""
    top = f"{name}-{version}"
    files = {
        f"{top}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{top}/pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "qd_backend"\nbackend-path = ["."]\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\n'
        ),
        f"{top}/qd_backend.py": (PLUGINS / "qd_backend.py").read_text(),
        f"{top}/{name}/__init__.py": "VALUE = 'from the sdist'\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def plugin_yaml(package: str, version: str, plugin: str = "qdtest", node_type: str = "qd.T") -> str:
    return f"""
plugins:
  {plugin}:
    executor: central_deployment_agent
    package_name: {package}
    package_version: '{version}'
node_types:
  {node_type}:
    derived_from: cloudify.nodes.Root
    properties:
      port: {{ type: integer, default: 8080 }}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {plugin}.qdtestplugin.tasks.set_props
blueprint_labels:
  obj-type:
    values: [qdtest]
labels:
  obj-type:
    values: [qdtest, demo]
"""


def post(client: TestClient, body: bytes, **params: str) -> Response:
    # Like the CLI: a raw body labelled JSON (rest-contract §2.4). Older clients send
    # `private_resource` instead of `visibility`.
    if "private_resource" not in params:
        params = {"visibility": "tenant", **params}
    return client.post(
        API,
        params=params,
        content=body,
        headers={"Content-Type": "application/json"},
    )


def upload_named(client: TestClient, wheels: dict[str, Path], package: str, version: str) -> dict:
    body = cfy_zip(
        {
            f"{package}-{version}.wgn": wagon(package, version, [wheels["qdtestplugin"]]),
            "plugin.yaml": plugin_yaml(package, version),
        }
    )
    response = post(client, body)
    assert response.status_code == 201, response.text
    return response.json()


# upload, read, download ------------------------------------------------------------------------


def test_upload_like_cfy_then_list_get_download(
    admin: TestClient, wheels: dict[str, Path], settings: Settings
) -> None:
    package = unique("qd-plugin")
    wagon_bytes = wagon(package, "1.2.0", [wheels["qdtestplugin"], wheels["qddep"]])
    body = cfy_zip(
        {
            "qd_plugin-1.2.0-py311-none-linux_x86_64.wgn": wagon_bytes,
            "plugin.yaml": plugin_yaml(package, "1.2.0"),
            "plugin_1_4.yaml": plugin_yaml(package, "1.2.0", node_type="qd.T14"),
            "icon.png": b"\x89PNG\r\n",
        }
    )
    response = post(admin, body, title="Demo plugin")
    assert response.status_code == 201, response.text
    plugin = response.json()
    assert plugin["package_name"] == package
    assert plugin["package_version"] == "1.2.0"
    assert plugin["package_source"] == package
    assert plugin["archive_name"] == f"{package.replace('-', '_')}-1.2.0-py311-none-any.wgn"
    assert (plugin["distribution"], plugin["distribution_release"]) == ("ubuntu", "noble")
    assert plugin["distribution_version"] == "24.04"
    assert plugin["supported_platform"] == "any"
    assert plugin["supported_py_versions"] == ["py311"]
    assert plugin["wheels"] == [wheels["qdtestplugin"].name, wheels["qddep"].name]
    assert plugin["yaml_files_paths"] == ["plugin.yaml", "plugin_1_4.yaml"]
    assert plugin["yaml_url_path"] == f"plugin:{package}?version=1.2.0&distribution=ubuntu"
    assert plugin["title"] == "Demo plugin"
    assert plugin["visibility"] == "tenant" and plugin["tenant_name"] == TENANT
    assert plugin["created_by"] == "admin"
    assert plugin["installation_state"] == [] and plugin["installation_error"] is None
    assert plugin["uploaded_at"].endswith("Z")
    assert plugin["blueprint_labels"] == {"obj-type": {"values": ["qdtest"]}}
    assert plugin["labels"] == [
        {"key": "obj-type", "value": "qdtest"},
        {"key": "obj-type", "value": "demo"},
    ]
    stored = settings.files_dir / "plugins" / TENANT / plugin["id"]
    assert sorted(p.name for p in stored.iterdir()) == sorted(
        [plugin["archive_name"], "plugin.yaml", "plugin_1_4.yaml", "icon.png"]
    )

    listed = admin.get(
        API,
        params={
            "package_name": package,
            "_include": "id,package_name,installation_state,uploaded_at",
            "_sort": "-uploaded_at",
            "_all_tenants": "False",
            "_offset": "0",
            "_size": "1000",
        },
    ).json()
    assert listed["metadata"]["pagination"] == {"total": 1, "size": 1000, "offset": 0}
    assert listed["items"] == [
        {
            "id": plugin["id"],
            "package_name": package,
            "installation_state": [],
            "uploaded_at": plugin["uploaded_at"],
        }
    ]
    searched = admin.get(API, params={"_search": package[-8:]}).json()
    assert [item["id"] for item in searched["items"]] == [plugin["id"]]
    assert admin.get(f"{API}/{plugin['id']}").json() == plugin

    archive = admin.get(f"{API}/{plugin['id']}/archive")
    assert archive.status_code == 200
    assert archive.content == wagon_bytes
    assert plugin["archive_name"] in archive.headers["content-disposition"]
    assert archive.headers["content-length"] == str(len(wagon_bytes))

    main = admin.get(f"{API}/{plugin['id']}/yaml")
    assert "qd.T:" in main.text and "qd.T14" not in main.text
    variant = admin.get(f"{API}/{plugin['id']}/yaml", params={"dsl_version": "1_4"})
    assert "qd.T14:" in variant.text

    full = admin.get(f"{API}/{plugin['id']}/archive", params={"full_archive": "true"})
    names = zipfile.ZipFile(io.BytesIO(full.content)).namelist()
    assert sorted(names) == sorted(p.name for p in stored.iterdir())


def test_bare_wagons_tar_and_zip(admin: TestClient, wheels: dict[str, Path]) -> None:
    for fmt in ("tar.gz", "zip"):
        package = unique("qd-bare")
        data = wagon(package, "0.1", [wheels["qddep"]], archive_name="../../evil.wgn", fmt=fmt)
        response = post(admin, data, private_resource="True")
        assert response.status_code == 201, response.text
        plugin = response.json()
        # The name in package.json is unsafe, so one is built from the metadata instead.
        assert plugin["archive_name"] == f"{package.replace('-', '_')}-0.1-py311-none-any.wgn"
        assert plugin["visibility"] == "private"
        assert plugin["yaml_files_paths"] == [] and plugin["yaml_url_path"] is None
        assert admin.get(f"{API}/{plugin['id']}/archive").content == data
        missing = admin.get(f"{API}/{plugin['id']}/yaml")
        assert missing.status_code == 404 and "not found" in missing.json()["message"]


def test_bare_wheel_and_sdist(admin: TestClient, wheels: dict[str, Path]) -> None:
    wheel = wheels["qddep"].read_bytes()
    response = post(admin, wheel)
    assert response.status_code == 201, response.text
    plugin = response.json()
    assert (plugin["package_name"], plugin["package_version"]) == ("qddep", "1.0.0")
    assert plugin["archive_name"] == "qddep-1.0.0-py3-none-any.whl"
    assert plugin["supported_platform"] == "any" and plugin["supported_py_versions"] == ["py3"]
    assert plugin["wheels"] == ["qddep-1.0.0-py3-none-any.whl"]
    assert admin.get(f"{API}/{plugin['id']}/archive").content == wheel

    name = f"qdsdist{uuid.uuid4().hex[:6]}"
    source = sdist(name, "0.3.0")
    response = post(admin, source)
    assert response.status_code == 201, response.text
    plugin = response.json()
    assert (plugin["package_name"], plugin["package_version"]) == (name, "0.3.0")
    assert plugin["archive_name"] == f"{name}-0.3.0.tar.gz"
    assert plugin["wheels"] == []
    assert admin.get(f"{API}/{plugin['id']}/archive").content == source


def test_same_package_and_version_is_a_conflict(admin: TestClient, wheels: dict[str, Path]) -> None:
    package = unique("qd-dup")
    first = upload_named(admin, wheels, package, "1.0")
    again = post(admin, wagon(package, "1.0", [wheels["qddep"]]))
    assert again.status_code == 409
    body = again.json()
    assert body["error_code"] == "conflict_error"
    assert f"package name {package} and version 1.0 already exists" in body["message"]
    assert first["id"] in body["message"]
    assert upload_named(admin, wheels, package, "1.1")["package_version"] == "1.1"
    total = admin.get(API, params={"package_name": package}).json()["metadata"]
    assert total["pagination"]["total"] == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"definitely not an archive", "is not a plugin"),
        (cfy_zip({"README.md": "hello"}), "is not a plugin"),
        (cfy_zip({"a.wgn": b"x", "b.wgn": b"y", "plugin.yaml": "{}"}), "holds 2 plugin packages"),
        (cfy_zip({"a.wgn": b"not a wagon", "plugin.yaml": "{}"}), "`a.wgn` in the upload"),
        ("no-wheels", "has no wheels"),
        ("bad-name", "package_name in the wagon's package.json `../x` is invalid"),
        ("bad-member", "Archive member `../x/package.json` points outside the archive"),
        ("bad-yaml", "plugin.yaml is not valid YAML"),
    ],
)
def test_refuses_what_is_not_a_plugin(
    admin: TestClient,
    wheels: dict[str, Path],
    settings: Settings,
    body: bytes | str,
    message: str,
) -> None:
    if body == "no-wheels":
        body = wagon(unique("qd-empty"), "1.0", [])
    elif body == "bad-name":
        body = wagon("../x", "1.0", [wheels["qddep"]], top="x")
    elif body == "bad-member":
        body = wagon("../x", "1.0", [wheels["qddep"]])
    elif body == "bad-yaml":
        good = wagon(unique("qd-badyaml"), "1.0", [wheels["qddep"]])
        body = cfy_zip({"p.wgn": good, "plugin.yaml": "plugins: [unclosed"})
    assert isinstance(body, bytes)
    response = post(admin, body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "bad_parameters_error"
    assert message in response.json()["message"]
    scratch = settings.files_dir / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir())


def test_upload_from_url_is_refused(admin: TestClient) -> None:
    response = post(admin, b"", plugin_archive_url="https://example.com/x.wgn")
    assert response.status_code == 400
    assert "from a URL is not supported" in response.json()["message"]


def test_unknown_plugin_is_not_found(admin: TestClient) -> None:
    for path in ("", "/archive", "/yaml"):
        response = admin.get(f"{API}/no-such-plugin{path}")
        assert response.status_code == 404
        assert (
            response.json()["message"]
            == "Requested `Plugin` with ID `no-such-plugin` was not found"
        )
    assert (
        admin.request("DELETE", f"{API}/no-such-plugin", json={"force": False}).status_code == 404
    )


# blueprints importing plugins, and deletion while in use ---------------------------------------


def blueprint_with(imports: list[str], node_type: str = "qd.T") -> str:
    listed = "\n".join(f"  - '{item}'" for item in imports)
    return f"""
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
{listed}
node_templates:
  thing:
    type: {node_type}
"""


def test_blueprint_plugin_import_picks_newest_or_named_version(
    admin: TestClient, wheels: dict[str, Path]
) -> None:
    package = unique("qd-imp")
    for version, node_type in (("1.0", "qd.Old"), ("1.10", "qd.New"), ("1.9", "qd.Mid")):
        body = cfy_zip(
            {
                "p.wgn": wagon(package, version, [wheels["qdtestplugin"]]),
                "plugin.yaml": plugin_yaml(package, version, node_type=node_type),
            }
        )
        assert post(admin, body).status_code == 201

    newest = upload_blueprint(
        admin, unique("bp"), {"blueprint.yaml": blueprint_with([f"plugin:{package}"], "qd.New")}
    ).json()
    assert newest["state"] == "uploaded", newest["error"]
    installs = newest["plan"]["deployment_plugins_to_install"]
    assert [(p["package_name"], p["package_version"]) for p in installs] == [(package, "1.10")]

    named = upload_blueprint(
        admin,
        unique("bp"),
        {"blueprint.yaml": blueprint_with([f"plugin:{package}?version=1.0"], "qd.Old")},
    ).json()
    assert named["state"] == "uploaded", named["error"]

    ranged = upload_blueprint(
        admin,
        unique("bp"),
        {"blueprint.yaml": blueprint_with([f"plugin:{package}?version=>=1.0,<1.10"], "qd.Mid")},
    ).json()
    assert ranged["state"] == "uploaded", ranged["error"]

    missing_version = upload_blueprint(
        admin, unique("bp"), {"blueprint.yaml": blueprint_with([f"plugin:{package}?version=7"])}
    ).json()
    assert missing_version["state"] == "invalid"
    assert f"plugin '{package}' is not uploaded" in missing_version["error"]


def test_blueprint_naming_an_unknown_plugin_fails_naming_it(admin: TestClient) -> None:
    name = unique("qd-never-uploaded")
    body = upload_blueprint(
        admin, unique("bp"), {"blueprint.yaml": blueprint_with([f"plugin:{name}"])}
    ).json()
    assert body["state"] == "invalid"
    assert f"plugin '{name}' is not uploaded" in body["error"]


def test_getcloudify_plugin_url_resolves_to_the_uploaded_plugin(
    admin: TestClient, wheels: dict[str, Path]
) -> None:
    short = f"qd{uuid.uuid4().hex[:6]}"
    upload_named(admin, wheels, f"cloudify-{short}-plugin", "2.0")
    url = f"http://www.getcloudify.org/spec/{short}-plugin/2.0/plugin.yaml"
    body = upload_blueprint(admin, unique("bp"), {"blueprint.yaml": blueprint_with([url])}).json()
    assert body["state"] == "uploaded", body["error"]


def test_delete_is_refused_while_a_deployment_uses_the_plugin(
    admin: TestClient, wheels: dict[str, Path], settings: Settings
) -> None:
    package = unique("qd-used")
    used = upload_named(admin, wheels, package, "1.0")
    unused = upload_named(admin, wheels, package, "2.0")
    blueprint_id = unique("bp")
    body = upload_blueprint(
        admin, blueprint_id, {"blueprint.yaml": blueprint_with([f"plugin:{package}?version=1.0"])}
    ).json()
    assert body["state"] == "uploaded", body["error"]
    deployment_id = unique("dep")
    created = admin.put(
        f"/api/v3.1/deployments/{deployment_id}",
        json={"blueprint_id": blueprint_id, "inputs": {}, "visibility": "tenant"},
    )
    assert created.status_code == 201, created.text

    refused = admin.request("DELETE", f"{API}/{used['id']}", json={"force": False})
    assert refused.status_code == 405
    assert refused.json()["error_code"] == "plugin_in_use"
    assert f"in use by deployments: {deployment_id}" in refused.json()["message"]
    assert admin.get(f"{API}/{used['id']}").status_code == 200

    # Another version of the same package is not used by that deployment.
    assert (
        admin.request("DELETE", f"{API}/{unused['id']}", json={"force": False}).status_code == 204
    )

    forced = admin.request("DELETE", f"{API}/{used['id']}", json={"force": True})
    assert forced.status_code == 204
    assert admin.get(f"{API}/{used['id']}").status_code == 404
    assert not (settings.files_dir / "plugins" / TENANT / used["id"]).exists()


def test_unused_plugin_is_deleted_with_its_files(
    admin: TestClient, wheels: dict[str, Path], settings: Settings
) -> None:
    plugin = upload_named(admin, wheels, unique("qd-gone"), "1.0")
    assert (settings.files_dir / "plugins" / TENANT / plugin["id"]).is_dir()
    # `cfy plugins delete` sends the force flag as a JSON body on the DELETE.
    assert (
        admin.request("DELETE", f"{API}/{plugin['id']}", json={"force": False}).status_code == 204
    )
    assert not (settings.files_dir / "plugins" / TENANT / plugin["id"]).exists()
    assert admin.get(f"{API}/{plugin['id']}").status_code == 404


# installation on workers -----------------------------------------------------------------------


def download(client: TestClient, plugin: dict, into: Path) -> Path:
    """What a worker does before building the venv: fetch the archive by plugin id."""
    response = client.get(f"{API}/{plugin['id']}/archive")
    assert response.status_code == 200
    path = into / plugin["archive_name"]
    path.write_bytes(response.content)
    return path


def python_says(python: Path, code: str) -> str:
    # cwd=/: `-c` puts the current directory on sys.path, and ours is the repository.
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    return done.stdout.strip()


def test_venv_built_offline_from_the_uploaded_wagon(
    admin: TestClient, wheels: dict[str, Path], tmp_path: Path
) -> None:
    tenant = unique("t")  # a fresh venv tree per run; the tenant is only a directory here
    version = f"1.0.{uuid.uuid4().int % 100000}"
    body = cfy_zip(
        {
            "qdtestplugin.wgn": wagon(
                "qdtestplugin", version, [wheels["qdtestplugin"], wheels["qddep"]]
            ),
            "plugin.yaml": plugin_yaml("qdtestplugin", version),
        }
    )
    response = post(admin, body)
    assert response.status_code == 201, response.text
    plugin = response.json()
    archive = download(admin, plugin, tmp_path)

    manager = VenvManager(tmp_path / "venvs")
    python = manager.ensure_plugin(tenant, plugin, archive)
    assert python.parent.parent == manager.plugin_dir(tenant, "qdtestplugin", version)
    code = "import qdtestplugin.tasks as t; print(t.dep_value())"
    assert python_says(python, code) == "from qddep"

    reported = admin.put(
        f"{API}/{plugin['id']}", json={"state": "installed", "manager": "worker-1"}
    ).json()
    assert reported["installation_state"][0]["state"] == "installed"
    assert reported["installation_error"] is None


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_venv_built_offline_from_an_uploaded_wheel_or_sdist(
    admin: TestClient, wheels: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    if kind == "wheel":
        # A wheel's name and version are its own; another test may have uploaded it already.
        name = "qddep"
        existing = admin.get(API, params={"package_name": name}).json()["items"]
        plugin = existing[0] if existing else post(admin, wheels[name].read_bytes()).json()
        code, expected = "import qddep; print(qddep.VALUE)", "from qddep"
    else:
        name = f"qdsdist{uuid.uuid4().hex[:6]}"
        plugin = post(admin, sdist(name, "0.3.0")).json()
        code, expected = f"import {name}; print({name}.VALUE)", "from the sdist"
    archive = download(admin, plugin, tmp_path)
    python = VenvManager(tmp_path / "venvs").ensure_plugin(TENANT, plugin, archive)
    assert python_says(python, code) == expected


def test_install_failure_is_recorded_on_the_plugin(
    admin: TestClient, wheels: dict[str, Path], tmp_path: Path
) -> None:
    body = cfy_zip(
        {
            "qdbroken.wgn": wagon(
                "qdbroken", f"1.0.{uuid.uuid4().int % 100000}", [wheels["qdbroken"]]
            ),
            "plugin.yaml": "plugins: {}\n",
        }
    )
    plugin = post(admin, body).json()
    archive = download(admin, plugin, tmp_path)
    with pytest.raises(PluginInstallError) as failure:
        VenvManager(tmp_path / "venvs").ensure_plugin(TENANT, plugin, archive)
    error_text = str(failure.value)
    assert "qd-missing-dependency" in error_text

    url = f"{API}/{plugin['id']}"
    assert admin.put(url, json={"state": "installing", "manager": "worker-1"}).status_code == 200
    admin.put(url, json={"state": "error", "manager": "worker-1", "error": error_text})
    admin.put(url, json={"state": "installed", "agent": "vm_abc123"})
    shown = admin.get(url).json()
    assert shown["installation_error"] == error_text
    by_installer = {(s["manager"], s["agent"]): s for s in shown["installation_state"]}
    assert by_installer[("worker-1", None)]["state"] == "error"
    assert by_installer[("worker-1", None)]["error"] == error_text
    assert by_installer[(None, "vm_abc123")]["state"] == "installed"

    # A later successful install on the same worker clears the error.
    fixed = admin.put(url, json={"state": "installed", "manager": "worker-1"}).json()
    assert fixed["installation_error"] is None
    assert {s["state"] for s in fixed["installation_state"]} == {"installed"}

    nobody = admin.put(url, json={"state": "installed"})
    assert nobody.status_code == 400 and "manager" in nobody.json()["message"]
    wrong = admin.put(url, json={"state": "sideways", "manager": "worker-1"})
    assert wrong.status_code == 400


def test_concurrent_uploads_of_one_version_store_it_once(
    admin: TestClient, wheels: dict[str, Path], settings: Settings
) -> None:
    package = unique("qd-race")
    body = cfy_zip(
        {
            "p.wgn": wagon(package, "1.0", [wheels["qdtestplugin"], wheels["qddep"]]),
            "plugin.yaml": plugin_yaml(package, "1.0"),
        }
    )
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: post(admin, body), range(4)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert all(
        r.json()["error_code"] == "conflict_error" for r in responses if r.status_code == 409
    )
    listed = admin.get(API, params={"package_name": package}).json()["items"]
    assert len(listed) == 1
    stored = [p for p in (settings.files_dir / "plugins" / TENANT).iterdir()]
    assert sum(1 for p in stored if p.name == listed[0]["id"]) == 1
    assert not any((settings.files_dir / "tmp").iterdir())
