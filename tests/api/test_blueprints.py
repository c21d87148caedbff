"""Blueprint upload over HTTP as `cfy` does it, and the list/get/delete/download routes."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from manager.settings import Settings
from tests.api.uploads import cfy_archive, upload

HELLO = """
tosca_definitions_version: cloudify_dsl_1_4
description: hello world
imports:
  - cloudify/types/types.yaml
inputs:
  port:
    type: integer
    default: 8080
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties:
      agent_config:
        install_method: none
  web:
    type: cloudify.nodes.WebServer
    properties:
      port: { get_input: port }
    relationships:
      - type: cloudify.relationships.contained_in
        target: vm
outputs:
  endpoint:
    value: { concat: ["http://host:", { get_input: port }] }
"""

BROKEN = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.NoSuchType
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_upload_like_cfy_then_read_it_back(admin: TestClient) -> None:
    blueprint_id = unique("hello")
    response = upload(admin, blueprint_id, {"blueprint.yaml": HELLO, "README.txt": "hi"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == blueprint_id
    assert body["state"] == "uploaded", body["error"]
    assert body["description"] == "hello world"
    assert body["main_file_name"] == "blueprint.yaml"
    assert "metadata" in body["plan"]
    assert {n["name"] for n in body["plan"]["nodes"]} == {"vm", "web"}

    execution = admin.get(f"/api/v3.1/executions/{body['upload_execution']['id']}").json()
    assert execution["workflow_id"] == "upload_blueprint"
    assert execution["status"] == "terminated" and execution["status_display"] == "completed"
    events = admin.get(
        "/api/v3.1/events",
        params=[
            ("execution_id", execution["id"]),
            ("type", "cloudify_event"),
            ("type", "cloudify_log"),
            ("_sort", "reported_timestamp"),
            ("_offset", "0"),
            ("_size", "100"),
        ],
    ).json()
    assert [e["event_type"] for e in events["items"]] == ["workflow_started", "workflow_succeeded"]
    assert events["metadata"]["pagination"] == {"total": 2, "size": 100, "offset": 0}

    fetched = admin.get(f"/api/v3.1/blueprints/{blueprint_id}").json()
    assert fetched["plan"] == body["plan"]
    listed = admin.get(
        "/api/v3.1/blueprints", params={"_include": "id,description", "id": blueprint_id}
    ).json()
    assert listed["items"] == [{"id": blueprint_id, "description": "hello world"}]


def test_plain_yaml_body_is_accepted(admin: TestClient) -> None:
    blueprint_id = unique("plain")
    response = admin.put(
        f"/api/v3.1/blueprints/{blueprint_id}",
        content=HELLO,
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 201
    assert response.json()["state"] == "uploaded"


def test_invalid_blueprint_ends_invalid_with_the_culprit_named(admin: TestClient) -> None:
    blueprint_id = unique("broken")
    body = upload(admin, blueprint_id, {"blueprint.yaml": BROKEN}).json()
    assert body["state"] == "invalid"
    assert body["error"].startswith("Invalid blueprint - ")
    assert "cloudify.nodes.NoSuchType" in body["error"]
    assert "blueprint.yaml:7:" in body["error"]
    execution = admin.get(f"/api/v3.1/executions/{body['upload_execution']['id']}").json()
    assert execution["status"] == "failed"
    assert "cloudify.nodes.NoSuchType" in execution["error"]
    # A failed blueprint may be replaced by a good upload under the same id.
    again = upload(admin, blueprint_id, {"blueprint.yaml": HELLO}).json()
    assert again["state"] == "uploaded"


def test_missing_main_file_fails_extracting(admin: TestClient) -> None:
    body = upload(admin, unique("nomain"), {"other.yaml": HELLO}).json()
    assert body["state"] == "failed_extracting"
    assert body["error"] == "blueprint.yaml does not exist in the application directory"


def test_duplicate_id_is_409(admin: TestClient) -> None:
    blueprint_id = unique("dup")
    assert upload(admin, blueprint_id, {"blueprint.yaml": HELLO}).status_code == 201
    second = upload(admin, blueprint_id, {"blueprint.yaml": HELLO})
    assert second.status_code == 409
    assert second.json()["error_code"] == "conflict_error"
    assert f"blueprint with id={blueprint_id} already exists" in second.json()["message"]


def test_hostile_archive_is_400_and_writes_nothing(admin: TestClient, settings: Settings) -> None:
    before = set(settings.files_dir.rglob("*")) if settings.files_dir.exists() else set()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("blueprint/../../../../escaped.yaml")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"a: 1"))
    response = admin.put(
        f"/api/v3.1/blueprints/{unique('evil')}",
        files={"blueprint_archive": ("filename", buffer.getvalue(), "text/plain")},
        data={"params": "{}"},
    )
    assert response.status_code == 400
    assert "points outside the archive" in response.json()["message"]
    after = set(settings.files_dir.rglob("*")) if settings.files_dir.exists() else set()
    assert {p for p in after - before if p.is_file()} == set()
    assert not any(Path("/").glob("escaped.yaml"))


def test_oversized_upload_is_refused(admin: TestClient, settings: Settings) -> None:
    big = b"x" * (settings.max_upload_bytes + 1)
    response = admin.put(
        f"/api/v3.1/blueprints/{unique('big')}",
        content=big,
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 413
    assert "at most" in response.json()["message"]


def test_bad_ids_and_params_are_refused_by_name(admin: TestClient) -> None:
    bad = admin.put(
        "/api/v3.1/blueprints/..hidden", content=HELLO, headers={"Content-Type": "application/yaml"}
    )
    assert bad.status_code == 400
    assert "blueprint id `..hidden` is invalid" in bad.json()["message"]
    bad_params = admin.put(
        f"/api/v3.1/blueprints/{unique('p')}",
        data={"params": "{not json"},
        files={"blueprint_archive": ("filename", cfy_archive({}), "text/plain")},
    )
    assert bad_params.status_code == 400
    assert "Invalid upload params" in bad_params.json()["message"]


def test_list_conventions(admin: TestClient) -> None:
    unknown = admin.get("/api/v3.1/blueprints", params={"_include": "id,bogus"})
    assert unknown.status_code == 400
    assert unknown.json()["error_code"] == "no_such_include_field_error"
    bad_filter = admin.get("/api/v3.1/blueprints", params={"colour": "red"})
    assert bad_filter.status_code == 400
    assert "Unknown filter `colour`" in bad_filter.json()["message"]
    page = admin.get(
        "/api/v3.1/blueprints", params={"_size": "1", "_offset": "0", "_sort": "-created_at"}
    ).json()
    assert page["metadata"]["pagination"]["size"] == 1
    assert len(page["items"]) <= 1
    assert all("description" in item for item in admin.get("/api/v3.1/blueprints").json()["items"])


def test_get_missing_is_404_with_not_found(admin: TestClient) -> None:
    response = admin.get("/api/v3.1/blueprints/nope-nope")
    assert response.status_code == 404
    assert response.json()["message"] == "Requested `Blueprint` with ID `nope-nope` was not found"


def test_download_and_delete(admin: TestClient, settings: Settings) -> None:
    blueprint_id = unique("dl")
    upload(admin, blueprint_id, {"blueprint.yaml": HELLO, "scripts/x.sh": "echo x"})
    archive = admin.get(f"/api/v3.1/blueprints/{blueprint_id}/archive")
    assert archive.status_code == 200
    assert int(archive.headers["content-length"]) == len(archive.content)
    assert archive.headers["content-disposition"] == f"attachment; filename={blueprint_id}.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
        assert f"{blueprint_id}/scripts/x.sh" in tar.getnames()

    assert admin.delete(f"/api/v3.1/blueprints/{blueprint_id}").status_code == 204
    assert admin.get(f"/api/v3.1/blueprints/{blueprint_id}").status_code == 404
    assert not (settings.files_dir / "blueprints" / "default_tenant" / blueprint_id).exists()
