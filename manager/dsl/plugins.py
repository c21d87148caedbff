"""The `plugins` section (§12) and which plugins nodes, hosts and workflows need."""

from __future__ import annotations

from typing import Any

from .issues import Issues
from .loader import YDict, plain, pos_of
from .merge import Merged
from .operations import EXECUTORS
from .versions import Gate

_FIELDS_BY_VERSION = {
    "source": (1, 0),
    "executor": (1, 0),
    "install": (1, 0),
    "install_arguments": (1, 1),
    "package_name": (1, 2),
    "package_version": (1, 2),
    "supported_platform": (1, 2),
    "distribution": (1, 2),
    "distribution_version": (1, 2),
    "distribution_release": (1, 2),
    "properties_description": (1, 5),
    "properties": (1, 5),
}
_STRING_FIELDS = (
    "source",
    "install_arguments",
    "package_name",
    "package_version",
    "supported_platform",
    "distribution",
    "distribution_version",
    "distribution_release",
)


def parse_plugins(merged: Merged, gate: Gate, issues: Issues) -> dict[str, dict[str, Any]]:
    plugins: dict[str, dict[str, Any]] = {}
    for name, raw in merged.dict_section("plugins").items():
        at = merged.pos("plugins", name)
        if not isinstance(raw, dict):
            issues.add("invalid_definition", f"Plugin '{name}' must be a dict", at)
            continue
        for key in raw:
            if key not in _FIELDS_BY_VERSION:
                issues.add(
                    "unknown_key",
                    f"'{key}' is not in schema (plugin '{name}')",
                    raw.key_pos(key) if isinstance(raw, YDict) else at,
                )
            else:
                gate.require(_FIELDS_BY_VERSION[key], f"plugin '{key}'", pos_of(raw, key, at))
        executor = raw.get("executor")
        if executor not in EXECUTORS:
            if executor is None:
                issues.add(
                    "missing_plugin_executor",
                    f"Plugin '{name}' does not declare the required 'executor'",
                    at,
                )
            else:
                issues.add(
                    "invalid_plugin_executor",
                    f"Plugin '{name}' has an illegal 'executor' value '{executor}'; "
                    f"value must be either '{EXECUTORS[0]}' or '{EXECUTORS[1]}'",
                    pos_of(raw, "executor", at),
                )
        install = raw.get("install", True)
        if install is None:
            install = True
        if not isinstance(install, bool):
            issues.add(
                "invalid_plugin",
                f"Plugin '{name}' 'install' must be a boolean",
                pos_of(raw, "install", at),
            )
        for key in _STRING_FIELDS:
            value = raw.get(key)
            if value is not None and not isinstance(value, str):
                issues.add(
                    "invalid_plugin",
                    f"Plugin '{name}' '{key}' must be a string",
                    pos_of(raw, key, at),
                )
        if install is True and not (raw.get("source") or raw.get("package_name")):
            issues.add(
                "plugin_missing_source",
                f"Plugin '{name}' needs to be installed, but does not declare a source "
                "or package_name property",
                at,
            )
        plugin: dict[str, Any] = {"name": name, "executor": executor, "install": install}
        for key in _STRING_FIELDS:
            plugin[key] = raw.get(key)
        # cloudify lists both at every version (1_5 only gates declaring them)
        plugin["properties_description"] = raw.get("properties_description")
        plugin["properties"] = plain(raw.get("properties")) or {}
        plugins[name] = plugin
    return plugins


def plugins_of_operations(
    operation_sets: list[dict[str, dict[str, Any]]], plugins: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One plugin entry per (plugin, executor) the operations use, executor overridden."""
    found: dict[tuple[str, Any], dict[str, Any]] = {}
    for ops in operation_sets:
        for op in ops.values():
            name = op["plugin"]
            if not name or name not in plugins:
                continue
            key = (name, op["executor"])
            if key not in found:
                entry = dict(plugins[name])
                entry["executor"] = op["executor"]
                found[key] = entry
    return list(found.values())
