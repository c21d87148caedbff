"""Wheels are kept as uploaded and unpacked later by pip or uv on the workers, so a wheel with
a member outside its install directory (`../`, an absolute path, a link) is refused at upload:
uploaded bare, inside a wagon, or inside `cfy`'s zip."""

from __future__ import annotations

import io
import stat
import uuid
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from manager.settings import Settings
from tests.api.test_plugins import cfy_zip, post, wagon


def wheel(name: str, hostile: zipfile.ZipInfo | str | None) -> bytes:
    """A minimal wheel of `name` 1.0, plus one hostile member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{name}-1.0.dist-info/METADATA", f"Name: {name}\nVersion: 1.0\n")
        archive.writestr(f"{name}-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        if hostile is not None:
            archive.writestr(hostile, "import os\n")
    return buffer.getvalue()


def link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


HOSTILE = {
    "dotdot": ("../../evil.py", "Archive member `../../evil.py` points outside the archive"),
    "absolute": ("/etc/cron.d/evil", "Archive member `/etc/cron.d/evil` has an absolute path"),
    "link": (link("pkg/evil"), "Archive member `pkg/evil` is a link; links are refused"),
}


def assert_refused(admin: TestClient, settings: Settings, body: bytes, message: str) -> None:
    before = {p for p in settings.files_dir.rglob("*") if p.is_file()}
    response = post(admin, body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "bad_parameters_error"
    assert message in response.json()["message"]
    assert {p for p in settings.files_dir.rglob("*") if p.is_file()} - before == set()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_bare_wheel_with_a_hostile_member_is_refused(
    admin: TestClient, settings: Settings, case: str
) -> None:
    member, message = HOSTILE[case]
    name = f"qdevil_{uuid.uuid4().hex[:6]}"
    assert_refused(admin, settings, wheel(name, member), f"The wheel: {message}")
    # The same wheel inside `cfy`'s zip, beside its plugin.yaml.
    bundle = cfy_zip({f"{name}-1.0-py3-none-any.whl": wheel(name, member), "plugin.yaml": "{}"})
    assert_refused(admin, settings, bundle, f"The wheel: {message}")


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_wagon_holding_a_hostile_wheel_is_refused(
    admin: TestClient, settings: Settings, tmp_path: Path, case: str
) -> None:
    member, message = HOSTILE[case]
    name = f"qdevil_{uuid.uuid4().hex[:6]}"
    hostile = tmp_path / f"{name}-1.0-py3-none-any.whl"
    hostile.write_bytes(wheel(name, member))
    body = wagon(name.replace("_", "-"), "1.0", [hostile])
    assert_refused(admin, settings, body, f"The wagon's wheel {hostile.name}: {message}")


def test_a_clean_wheel_is_accepted(admin: TestClient) -> None:
    response = post(admin, wheel(f"qdclean_{uuid.uuid4().hex[:6]}", None))
    assert response.status_code == 201, response.text
