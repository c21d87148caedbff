"""The plan's `requirements`: the secrets and parent capabilities its functions name."""

from __future__ import annotations

from typing import Any

from .functions import function_of


def find_requirements(
    nodes: list[dict[str, Any]],
    outputs: dict[str, Any],
    policies: dict[str, Any],
    scaling_groups: dict[str, Any],
    capabilities: dict[str, Any],
    labels: dict[str, Any],
    settings: dict[str, Any],
) -> dict[str, list[Any]]:
    """As cloudify's find_requirements: every get_secret argument (as written, repeats kept)
    and every get_environment_capability path (a list), in the order cloudify scans the plan.
    An operation reachable by its short name too is scanned twice, as there."""
    secrets: list[Any] = []
    parents: list[Any] = []

    def scan(value: Any) -> None:
        if isinstance(value, dict):
            fn = function_of(value)
            if fn is not None:
                name, args = fn
                if name == "get_secret":
                    secrets.append(args)
                elif name == "get_environment_capability":
                    parents.append([args] if isinstance(args, str) else args)
            for item in value.values():
                scan(item)
        elif isinstance(value, list):
            for item in value:
                scan(item)

    def scan_operations(operations: dict[str, Any]) -> None:
        for op in operations.values():
            if op["has_intrinsic_functions"]:
                scan(op["inputs"])

    for node in nodes:
        scan(node["properties"])
        for value in node["capabilities"]["scalable"]["properties"].values():
            if type(value) is dict:
                scan(value)
        scan_operations(node["operations"])
        for rel in node["relationships"]:
            scan_operations(rel["source_operations"])
            scan_operations(rel["target_operations"])
    for section in (outputs, policies, scaling_groups):
        for entry in section.values():
            scan(entry if section is outputs else entry.get("properties"))
    for section in (capabilities, labels):
        scan(section)
    scan(settings)
    return {"parent_capabilities": parents, "secrets": secrets}


def secret_names(requirements: dict[str, Any] | None) -> list[str]:
    """The distinct names of the secrets `requirements` lists (`[name, key...]` → name;
    a name computed by a function is left out)."""
    names: list[str] = []
    for entry in (requirements or {}).get("secrets") or []:
        name = entry[0] if isinstance(entry, list) and entry else entry
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names
