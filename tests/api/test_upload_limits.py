"""Hostile and damaged blueprint and plugin uploads over HTTP, on the default limits: each is
refused with the Cloudify error body naming the limit or the member, and nothing of it is
kept, neither files nor rows."""

from __future__ import annotations

import io
import tarfile
import uuid
import warnings
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from manager.settings import Settings

SMALL = b"tosca_definitions_version: cloudify_dsl_1_4\n"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def zeros_zip(size: int, name: str = "bp/zeros.bin") -> bytes:
    """bp/blueprint.yaml and `size` bytes of zeros, written in pieces."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bp/blueprint.yaml", SMALL)
        with archive.open(name, "w", force_zip64=True) as member:
            piece = b"\0" * (1 << 20)
            for offset in range(0, size, len(piece)):
                member.write(piece[: size - offset])
    return buffer.getvalue()


def put_archive(client: TestClient, blueprint_id: str, data: bytes) -> Response:
    return client.put(
        f"/api/v3.1/blueprints/{blueprint_id}",
        data={"params": "{}"},
        files={"blueprint_archive": ("filename", data, "application/octet-stream")},
    )


def stored_files(settings: Settings) -> set[Path]:
    root = settings.files_dir
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def assert_kept_nowhere(admin: TestClient, settings: Settings, blueprint_id: str) -> None:
    assert admin.get(f"/api/v3.1/blueprints/{blueprint_id}").status_code == 404
    assert not list(settings.files_dir.glob(f"blueprints/*/{blueprint_id}"))
    scratch = settings.files_dir / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir())


def test_a_gigabyte_zip_bomb_is_413_naming_the_unpacked_limit(
    admin: TestClient, settings: Settings
) -> None:
    data = zeros_zip(1 << 30)
    assert len(data) < 1_100_000  # the tester's 949 KiB
    blueprint_id = unique("bomb")
    response = put_archive(admin, blueprint_id, data)
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error_code"] == "bad_parameters_error"
    assert f"more than {settings.max_unpacked_bytes} bytes" in body["message"]
    assert "QD_MAX_UNPACKED_BYTES" in body["message"]
    assert_kept_nowhere(admin, settings, blueprint_id)


def test_a_bomb_under_the_size_limit_is_413_naming_the_ratio(
    admin: TestClient, settings: Settings
) -> None:
    assert settings.max_unpacked_bytes > 200 << 20
    before = stored_files(settings)
    blueprint_id = unique("ratio")
    response = put_archive(admin, blueprint_id, zeros_zip(200 << 20))
    assert response.status_code == 413, response.text
    message = response.json()["message"]
    assert "Archive member `bp/zeros.bin` expands more than 100 times" in message
    assert "QD_MAX_COMPRESSION_RATIO" in message
    assert_kept_nowhere(admin, settings, blueprint_id)
    assert stored_files(settings) - before == set()


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def _tar_gz(members: list[tuple[str, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _bad_crc() -> bytes:
    script = b"echo installing\n" * 40
    data = bytearray(_zip([("bp/blueprint.yaml", SMALL), ("bp/install.sh", script)]))
    data[bytes(data).index(script) + 5] ^= 0xFF
    return bytes(data)


def _truncated() -> bytes:
    noise = bytes(range(256)) * 400
    data = _tar_gz([("bp/blueprint.yaml", SMALL), ("bp/resource.bin", noise)])
    return data[: len(data) // 2]


MALFORMED = {
    "zip-duplicate": (
        _zip([("bp/blueprint.yaml", SMALL), ("bp/blueprint.yaml", b"other: 1\n")]),
        "The archive has two members named `bp/blueprint.yaml`",
    ),
    "tar-duplicate": (
        _tar_gz([("bp/blueprint.yaml", SMALL), ("bp/blueprint.yaml", b"other: 1\n")]),
        "The archive has two members named `bp/blueprint.yaml`",
    ),
    "file-and-directory": (
        _tar_gz([("bp/blueprint.yaml", SMALL), ("bp/scripts", b"x"), ("bp/scripts", None)]),
        "Archive member `bp/scripts` is both a file and a directory",
    ),
    "bad-crc": (_bad_crc(), "Archive member `bp/install.sh` is corrupt: Bad CRC-32"),
    "truncated": (_truncated(), "The tar.gz archive is corrupt after member `bp/"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_blueprint_archives_are_400_naming_the_member(
    admin: TestClient, settings: Settings, case: str
) -> None:
    data, message = MALFORMED[case]
    before = stored_files(settings)
    blueprint_id = unique(case)
    response = put_archive(admin, blueprint_id, data)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "bad_parameters_error"
    assert message in body["message"]
    assert_kept_nowhere(admin, settings, blueprint_id)
    assert stored_files(settings) - before == set()


@pytest.mark.parametrize("case", ["zip-duplicate", "bad-crc", "truncated"])
def test_malformed_plugin_archives_are_400_naming_the_member(
    admin: TestClient, settings: Settings, case: str
) -> None:
    data, message = MALFORMED[case]
    before = stored_files(settings)
    response = admin.post(
        "/api/v3.1/plugins",
        params={"visibility": "tenant"},
        content=data,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert stored_files(settings) - before == set()
