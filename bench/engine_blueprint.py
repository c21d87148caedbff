"""The engine benchmark's blueprint: N node templates whose lifecycle operations are no-ops.

Shared by our engine's benchmark and bench/engine_reference.py, so both install the same thing.
The layout, in groups of five templates: a host (`bench.nodes.Host`, derived from
cloudify.nodes.Root, not Compute, so no agent work) with four components contained in it; in
each group component 2 is connected_to component 1, and component 3 is connected_to component 0
of the previous group (edges across groups, but no chain longer than host -> c0 -> c3). A
remainder of N mod 5 templates are standalone hosts. Every template has one instance.

create, configure and start (stop and delete for uninstall) map to `noop_plugin.tasks.op` of a
source plugin shipped in the blueprint's `plugins/noop/`; relationship operations stay empty,
so an install runs exactly 3 operations per node (`expected_operations`).

    python bench/engine_blueprint.py DIR [--nodes 500] [--flavour quarterdeck|reference]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# A PEP 517 backend with no build requirements, so workers can install the plugin offline.
_BUILD_BACKEND = ROOT / "tests" / "workers" / "plugins" / "qd_backend.py"

GROUP_SIZE = 5
PLUGIN_NAME = "noop"
PACKAGE_NAME = "bench-noop-plugin"
OPERATION = f"{PLUGIN_NAME}.noop_plugin.tasks.op"
# Lifecycle operations each workflow runs on a node whose interface maps them.
WORKFLOW_OPERATIONS = {
    "install": ("create", "configure", "start"),
    "uninstall": ("stop", "delete"),
}

Flavour = Literal["quarterdeck", "reference"]

_TASKS_PY = '''\
"""No-op operations for the engine benchmark: plain functions, no SDK import needed."""


def op(**kwargs):
    """Does nothing: what is measured is the engine around it."""
'''

_PYPROJECT = f"""\
[build-system]
requires = []
build-backend = "qd_backend"
backend-path = ["."]

[project]
name = "{PACKAGE_NAME}"
version = "1.0.0"
"""


def expected_operations(nodes: int, workflow: str = "install") -> int:
    """Operations `workflow` runs on the blueprint `generate(root, nodes)` writes."""
    return nodes * len(WORKFLOW_OPERATIONS[workflow])


def template_names(nodes: int) -> list[str]:
    """Node template names in the order `generate` writes them."""
    names = []
    for group in range(nodes // GROUP_SIZE):
        names.append(f"host{group}")
        names += [f"host{group}_c{k}" for k in range(GROUP_SIZE - 1)]
    names += [f"extra{i}" for i in range(nodes % GROUP_SIZE)]
    return names


def blueprint_yaml(nodes: int) -> str:
    lifecycle = sorted({op for ops in WORKFLOW_OPERATIONS.values() for op in ops})
    lines = [
        "tosca_definitions_version: cloudify_dsl_1_4",
        f"description: Engine benchmark, {nodes} nodes with no-op lifecycle operations.",
        "imports:",
        "  - cloudify/types/types.yaml",
        "plugins:",
        f"  {PLUGIN_NAME}:",
        "    executor: central_deployment_agent",
        f"    source: {PLUGIN_NAME}",
        f"    package_name: {PACKAGE_NAME}",
        "    package_version: '1.0.0'",
        "node_types:",
        "  bench.nodes.Noop:",
        "    derived_from: cloudify.nodes.Root",
        "    interfaces:",
        "      cloudify.interfaces.lifecycle:",
        *(f"        {name}: {OPERATION}" for name in lifecycle),
        "  bench.nodes.Host: {derived_from: bench.nodes.Noop}",
        "  bench.nodes.Component: {derived_from: bench.nodes.Noop}",
        "node_templates:",
    ]

    def rel(kind: str, target: str) -> str:
        return f"      - {{type: cloudify.relationships.{kind}, target: {target}}}"

    groups = nodes // GROUP_SIZE
    for group in range(groups):
        host = f"host{group}"
        lines += [f"  {host}:", "    type: bench.nodes.Host"]
        for k in range(GROUP_SIZE - 1):
            lines += [
                f"  {host}_c{k}:",
                "    type: bench.nodes.Component",
                "    relationships:",
                rel("contained_in", host),
            ]
            if k == 2:
                lines.append(rel("connected_to", f"{host}_c1"))
            if k == 3 and groups > 1:
                lines.append(rel("connected_to", f"host{(group - 1) % groups}_c0"))
    for i in range(nodes % GROUP_SIZE):
        lines += [f"  extra{i}:", "    type: bench.nodes.Host"]
    return "\n".join(lines) + "\n"


def write_plugin(root: Path) -> Path:
    """The source plugin under root/plugins/noop/; returns that directory."""
    plugin = root / "plugins" / PLUGIN_NAME
    (plugin / "noop_plugin").mkdir(parents=True, exist_ok=True)
    (plugin / "pyproject.toml").write_text(_PYPROJECT)
    (plugin / "noop_plugin" / "__init__.py").write_text("")
    (plugin / "noop_plugin" / "tasks.py").write_text(_TASKS_PY)
    shutil.copy(_BUILD_BACKEND, plugin / "qd_backend.py")
    return plugin


def generate(root: Path, nodes: int = 500, flavour: Flavour = "quarterdeck") -> Path:
    """Writes the blueprint directory at `root` (created if missing); returns the main file.

    The import line is the same for both flavours. "reference" also writes our bundled standard
    types under root/cloudify/types/ (as tests/compat does), where cloudify-common's parser finds
    `cloudify/types/types.yaml` when run with the blueprint directory as working directory.
    """
    if nodes < 1:
        raise ValueError("nodes must be at least 1")
    root.mkdir(parents=True, exist_ok=True)
    main = root / "blueprint.yaml"
    main.write_text(blueprint_yaml(nodes))
    write_plugin(root)
    if flavour == "reference":
        from tests.compat.conftest import write_standard_types

        write_standard_types(root)
    elif flavour != "quarterdeck":
        raise ValueError(f"unknown flavour {flavour!r}")
    return main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--flavour", choices=("quarterdeck", "reference"), default="quarterdeck")
    args = parser.parse_args()
    path = generate(args.directory, args.nodes, args.flavour)
    print(f"{path}: {args.nodes} nodes, {expected_operations(args.nodes)} install operations")


if __name__ == "__main__":
    main()
