"""QD_MAX_BODY_BYTES: bodies of every route but the uploads are refused (413, Cloudify body
naming the limit) before they are parsed, whether they declare their length or stream it."""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterator

from fastapi.testclient import TestClient

from manager.settings import Settings

API = "/api/v3.1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def big_inputs(settings: Settings) -> bytes:
    """A deployment body one byte over the limit."""
    body = json.dumps({"blueprint_id": "nothing", "inputs": {"blob": ""}}).encode()
    padding = settings.max_body_bytes + 1 - len(body)
    return json.dumps({"blueprint_id": "nothing", "inputs": {"blob": "x" * padding}}).encode()


def test_a_declared_length_over_the_limit_is_413_before_parsing(
    admin: TestClient, settings: Settings
) -> None:
    body = big_inputs(settings)
    assert len(body) == settings.max_body_bytes + 1
    deployment_id = unique("dep")
    response = admin.put(
        f"{API}/deployments/{deployment_id}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json() == {
        "message": f"The request body is {len(body)} bytes; at most {settings.max_body_bytes} "
        "are allowed (QD_MAX_BODY_BYTES)",
        "error_code": "bad_parameters_error",
        "server_traceback": None,
    }
    assert admin.get(f"{API}/deployments/{deployment_id}").status_code == 404


def test_the_limit_applies_before_authentication(client: TestClient, settings: Settings) -> None:
    response = client.put(
        f"{API}/deployments/{unique('dep')}",
        content=big_inputs(settings),
        headers={"Content-Type": "application/json", "Authorization": "Basic bm86bm8="},
    )
    assert response.status_code == 413


def test_a_streamed_body_is_counted_as_it_is_read(admin: TestClient, settings: Settings) -> None:
    body = big_inputs(settings)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(body), 1 << 16):
            yield body[start : start + (1 << 16)]

    response = admin.post(
        f"{API}/searches/blueprints",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["message"] == (
        f"The request body is larger than the limit of {settings.max_body_bytes} bytes "
        "(QD_MAX_BODY_BYTES)"
    )
    assert response.json()["error_code"] == "bad_parameters_error"


def test_bodies_under_the_limit_are_untouched(admin: TestClient) -> None:
    filters = {"filter_rules": [], "padding": "x" * (1 << 20)}
    response = admin.post(f"{API}/searches/blueprints", json=filters)
    assert response.status_code == 200, response.text


def test_uploads_keep_their_own_larger_limit(admin: TestClient, settings: Settings) -> None:
    noise = os.urandom(settings.max_body_bytes + (1 << 20))  # does not compress
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (
            ("bp/blueprint.yaml", b"tosca_definitions_version: cloudify_dsl_1_4\n"),
            ("bp/resources/blob.bin", noise),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = buffer.getvalue()
    assert settings.max_body_bytes < len(archive) < settings.max_upload_bytes
    response = admin.put(
        f"{API}/blueprints/{unique('big')}",
        data={"params": "{}"},
        files={"blueprint_archive": ("filename", archive, "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "uploaded"


def test_worker_reports_are_held_to_the_upload_limit(
    client: TestClient, settings: Settings
) -> None:
    """A report with large runtime properties must not be refused for its size (the worker
    would send it again and again); past QD_MAX_UPLOAD_BYTES it is, before the token check."""
    results = f"{API}/worker/operations/results"
    over_body_limit = b"x" * (settings.max_body_bytes + 1)
    response = client.post(results, content=over_body_limit, headers={"Authorization": ""})
    assert response.status_code != 413, response.text
    declared = str(settings.max_upload_bytes + 1)
    response = client.post(results, content=b"{}", headers={"Content-Length": declared})
    assert response.status_code == 413, response.text
    assert response.json()["message"] == (
        f"The request body is {declared} bytes; at most {settings.max_upload_bytes} are allowed "
        "(QD_MAX_UPLOAD_BYTES)"
    )
