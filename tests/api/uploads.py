"""Building uploads the way `cfy` 7.0.5 does: a tar.gz of the blueprint's directory."""

from __future__ import annotations

import io
import json
import tarfile

from fastapi.testclient import TestClient
from httpx import Response


def cfy_archive(files: dict[str, str | bytes], top: str = "blueprint") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        directory = tarfile.TarInfo(top)
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload(
    client: TestClient,
    blueprint_id: str,
    files: dict[str, str | bytes],
    main: str = "blueprint.yaml",
    **params: object,
) -> Response:
    body = {
        "visibility": "tenant",
        "async_upload": True,
        "skip_execution": False,
        "application_file_name": main,
        **params,
    }
    return client.put(
        f"/api/v3.1/blueprints/{blueprint_id}",
        data={"params": json.dumps(body)},
        files={"blueprint_archive": ("filename", cfy_archive(files), "text/plain")},
    )
