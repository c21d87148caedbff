"""The import structure holds: the manager's layers point one way, workers import no manager
module, and the wire contract and the SDK import only the standard library.

The contracts are in pyproject.toml ([tool.importlinter]); `lint-imports` checks them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        pytest.fail(f"{lint_imports} is missing: install the test extra (import-linter)")
    done = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("package", ["wire", "quarterdeck"])
def test_only_the_standard_library_is_imported_by(package: str) -> None:
    """Operations import the SDK inside plugin venvs, and workers of any environment speak
    wire: neither may need a third-party package (import-linter names only those we use).
    An import inside `try: ... except ImportError:` is optional, and may name one."""
    own = {"wire", "quarterdeck"}
    foreign = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        optional = {
            id(statement)
            for node in ast.walk(tree)
            if isinstance(node, ast.Try)
            and any(
                isinstance(handler.type, ast.Name) and handler.type.id == "ImportError"
                for handler in node.handlers
            )
            for statement in node.body
        }
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in own:
                    foreign.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert foreign == []
