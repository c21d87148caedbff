"""A tiny PEP 517 build backend for the test plugins: standard library only, so offline."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
import zipfile
from pathlib import Path
from typing import Any


def _project() -> dict[str, Any]:
    return tomllib.loads(Path("pyproject.toml").read_text())["project"]


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:
    return []


def build_wheel(
    wheel_directory: str, config_settings: Any = None, metadata_directory: Any = None
) -> str:
    project = _project()
    name = re.sub(r"[-_.]+", "_", project["name"])
    version = project["version"]
    dist_info = f"{name}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted(Path(".").rglob("*.py")):
        if "__pycache__" in path.parts or len(path.parts) < 2:
            continue
        if (Path(path.parts[0]) / "__init__.py").exists():
            files[path.as_posix()] = path.read_bytes()
    metadata = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {version}"]
    metadata += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    files[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: qd_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for arcname, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arcname},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    filename = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / filename, "w", zipfile.ZIP_DEFLATED) as wheel:
        for arcname, data in files.items():
            wheel.writestr(arcname, data)
    return filename
