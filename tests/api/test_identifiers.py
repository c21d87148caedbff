"""Identifiers end where the string ends: an id with a trailing newline is refused (400) for
every resource whose name becomes a row key or a directory, and nothing is created."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from manager.services.plugin_packages import PluginArchiveError, _component, _file_name
from tests.api.callers import SMALL_BLUEPRINT, Caller, unique, upload_yaml
from workers.venvs import _component as venv_component


@pytest.fixture()
def admin(client: TestClient, admin_credentials: tuple[str, str]) -> Caller:
    return Caller(client, "default_tenant", admin_credentials)


def _refused(response_json: dict[str, object], kind: str, name: str) -> None:
    assert response_json["error_code"] == "bad_parameters_error"
    # The newline is shown escaped, so the message names the culprit on one line.
    assert f"The {kind} id `{name}\\n` is invalid" in str(response_json["message"])


def test_blueprint_id_ending_in_a_newline(admin: Caller, settings: object) -> None:
    name = unique("bp")
    response = admin.put(
        f"/blueprints/{name}%0A",
        content=SMALL_BLUEPRINT,
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 400, response.text
    _refused(response.json(), "blueprint", name)
    assert admin.get(f"/blueprints/{name}%0A").status_code == 404
    assert not list(settings.files_dir.glob(f"blueprints/*/{name}*"))  # type: ignore[attr-defined]


def test_blueprint_main_file_name_with_a_newline(admin: Caller) -> None:
    response = admin.put(
        f"/blueprints/{unique('bp')}",
        params={"application_file_name": "blueprint.yaml\n"},
        content=SMALL_BLUEPRINT,
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 400, response.text
    assert "`blueprint.yaml\\n` must not contain control characters" in response.json()["message"]


def test_deployment_id_ending_in_a_newline(admin: Caller) -> None:
    blueprint = unique("bp")
    upload_yaml(admin, blueprint)
    name = unique("dep")
    response = admin.put(f"/deployments/{name}%0A", json={"blueprint_id": blueprint})
    assert response.status_code == 400, response.text
    _refused(response.json(), "deployment", name)
    assert admin.get(f"/deployments/{name}%0A").status_code == 404


def test_tenant_name_ending_in_a_newline(admin: Caller) -> None:
    name = unique("t")
    response = admin.post(f"/tenants/{name}%0A")
    assert response.status_code == 400, response.text
    _refused(response.json(), "tenant", name)
    names = [t["name"] for t in admin.get("/tenants", params={"_size": 1000}).json()["items"]]
    assert not any(n.startswith(name) for n in names)


def test_user_name_ending_in_a_newline(admin: Caller) -> None:
    name = unique("u")
    response = admin.put(
        "/users", json={"username": f"{name}\n", "password": secrets.token_urlsafe(12)}
    )
    assert response.status_code == 400, response.text
    _refused(response.json(), "user", name)
    assert admin.get(f"/users/{name}%0A").status_code == 404


def test_secret_key_ending_in_a_newline(admin: Caller) -> None:
    name = unique("s")
    response = admin.put(f"/secrets/{name}%0A", json={"value": "v"})
    assert response.status_code == 400, response.text
    _refused(response.json(), "secret", name)
    assert admin.get(f"/secrets/{name}%0A").status_code == 404


@pytest.mark.parametrize("value", ["qdplugin\n", "1.0\n", "qdplugin-1.0-py3-none-any.whl\n"])
def test_plugin_names_and_versions_ending_in_a_newline(value: str) -> None:
    """Plugin ids are ours (UUIDs); what comes from the upload and becomes a file or venv
    directory name is its package name, version and archive name, checked by these rules
    (metadata values are stripped first, so there a newline cannot even reach them)."""
    with pytest.raises(PluginArchiveError, match="Cannot store the plugin"):
        _file_name(value)
    with pytest.raises(ValueError, match="invalid package name for a venv path"):
        venv_component(value, "package name")
    assert _component(f" {value}", "Name in the wheel's METADATA") == value.strip()
