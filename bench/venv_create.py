"""Time to create a plugin venv and install a wagon of 10 wheels: uv vs venv + pip."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.venvs import VenvManager  # noqa: E402


def write_wheel(directory: Path, name: str, requires: list[str]) -> Path:
    """A minimal pure-Python wheel with a few modules (enough to make compiling count)."""
    dist_info = f"{name}-1.0.0.dist-info"
    files = {f"{name}/__init__.py": f"NAME = {name!r}\n".encode()}
    for index in range(20):
        body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(50))
        files[f"{name}/mod{index}.py"] = body.encode()
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0.0"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    files[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"  # noqa: E501
        for path, data in files.items()
    ]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = directory / f"{name}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def build_wagon(directory: Path, wheels: int) -> Path:
    top = directory / "benchplugin"
    (top / "wheels").mkdir(parents=True)
    deps = [f"benchdep{i}" for i in range(wheels - 1)]
    for dep in deps:
        write_wheel(top / "wheels", dep, [])
    write_wheel(top / "wheels", "benchplugin", deps)
    (top / "package.json").write_text(
        json.dumps({"package_name": "benchplugin", "package_version": "1.0.0", "wheels": []})
    )
    wagon = directory / "benchplugin-1.0.0-py3-none-any.wgn"
    with tarfile.open(wagon, "w:gz") as archive:
        archive.add(top, arcname="benchplugin")
    return wagon


def timed(base: Path, wagon: Path, use_uv: bool) -> float:
    manager = VenvManager(base, use_uv=use_uv)
    plugin = {"name": "benchplugin", "package_name": "benchplugin", "package_version": "1.0.0"}
    started = time.perf_counter()
    manager.ensure_plugin("default_tenant", plugin, wagon)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        wagon = build_wagon(root / "wagon", 10)
        results: dict[str, list[float]] = {"uv": [], "venv+pip": []}
        for round_number in range(args.rounds):
            results["uv"].append(timed(root / f"uv{round_number}", wagon, True))
            results["venv+pip"].append(timed(root / f"pip{round_number}", wagon, False))
    for name, samples in results.items():
        print(
            f"{name:9s} create venv + install wagon of 10 wheels: "
            f"best {min(samples):6.2f} s, median {sorted(samples)[len(samples) // 2]:6.2f} s"
        )
    print(f"ratio pip/uv: {min(results['venv+pip']) / min(results['uv']):.1f}x")


if __name__ == "__main__":
    main()
