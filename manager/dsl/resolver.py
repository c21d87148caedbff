"""The import resolver interface the API implements, and the bundled standard types."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .issues import BlueprintInvalid, Issues
from .loader import YDict, YList, load_yaml

TYPES_FILE = Path(__file__).parent / "types" / "types.yaml"

# Every version segment is accepted: the bundled variant is chosen by the main file's version.
_TYPES_URL = re.compile(
    r"^(?:https?://(?:www\.)?(?:getcloudify\.org|cloudify\.co)/spec/cloudify/[^/]+/types\.yaml"
    r"|(?:resource:)?/?cloudify/types/types(?:_\d+_\d+)?\.yaml)$"
)
_PLUGIN_URL = re.compile(
    r"^https?://(?:www\.)?(?:getcloudify\.org|cloudify\.co)/spec/([^/]+)/[^/]+/plugin\.yaml$"
)


@dataclass(frozen=True)
class ResolvedImport:
    """Text of an imported YAML and the name used for it in issue positions."""

    text: str
    name: str


@runtime_checkable
class ImportResolver(Protocol):
    """What the parser asks the outside world for; the API backs it with uploaded resources.

    Each method returns None when it cannot serve the import (that becomes an issue).
    """

    def plugin_yaml(
        self, name: str, query: dict[str, str], dsl_version: tuple[int, int]
    ) -> ResolvedImport | None:
        """`plugin:<name>?version=..&distribution=..`: the plugin's YAML for that DSL version
        (its `plugin_<major>_<minor>.yaml` when present, else `plugin.yaml`)."""
        ...

    def url_yaml(self, url: str) -> ResolvedImport | None:
        """Any other `http(s)://`, `ftp://` or `file:` import."""
        ...

    def blueprint_yaml(self, blueprint_id: str) -> ResolvedImport | None:
        """`<ns>--blueprint:<id>`: the main file of an already uploaded blueprint."""
        ...


class NullResolver:
    """Serves nothing: blueprints then may import only local files and the standard types."""

    def plugin_yaml(
        self, name: str, query: dict[str, str], dsl_version: tuple[int, int]
    ) -> ResolvedImport | None:
        return None

    def url_yaml(self, url: str) -> ResolvedImport | None:
        return None

    def blueprint_yaml(self, blueprint_id: str) -> ResolvedImport | None:
        return None


def is_standard_types_import(url: str) -> bool:
    return bool(_TYPES_URL.match(url))


def plugin_name_from_url(url: str) -> str | None:
    """Maps e.g. .../spec/utilities-plugin/1.0/plugin.yaml to `cloudify-utilities-plugin`."""
    m = _PLUGIN_URL.match(url)
    if not m:
        return None
    name = m.group(1)
    return name if name.startswith("cloudify-") else f"cloudify-{name}"


_cache: dict[str, YDict] = {}
_cache_lock = threading.Lock()


def standard_types(dsl_version: tuple[int, int]) -> YDict:
    """The standard types document for the main file's version; parsed once per process.

    The returned document is shared: callers must never mutate loaded documents.
    """
    variant = (
        "types.yaml"
        if dsl_version >= (1, 5)
        else ("types_1_4.yaml" if dsl_version >= (1, 4) else "types_1_3.yaml")
    )
    with _cache_lock:
        doc = _cache.get(variant)
        if doc is None:
            issues = Issues()
            base = load_yaml(TYPES_FILE.read_text(), "cloudify/types/types.yaml", issues)
            if issues:
                raise BlueprintInvalid(issues.items)
            doc = _derive_variant(base, variant)
            _cache[variant] = doc
    return doc


def _copy(d: YDict, **changes: Any) -> YDict:
    new = YDict(d)
    new.file, new.marks, new.line, new.column = d.file, dict(d.marks), d.line, d.column
    for k, v in changes.items():
        if v is _DROP:
            new.pop(k, None)
        else:
            new[k] = v
    return new


_DROP = object()


def _set_in(doc: YDict, path: list[str], value: Any) -> YDict:
    """Copy-on-write update of doc[path] (value _DROP removes the key)."""
    head, rest = path[0], path[1:]
    if not rest:
        return _copy(doc, **{head: value})
    return _copy(doc, **{head: _set_in(doc[head], rest, value)})


def _derive_variant(doc: YDict, variant: str) -> YDict:
    """The 1_4 and 1_3 variants differ from the 1_5 one as dsl.md §18.5 lists."""
    if variant == "types.yaml":
        return doc
    doc = _set_in(doc, ["tosca_definitions_version"], "cloudify_dsl_1_4")
    doc = _set_in(doc, ["workflows", "uninstall", "parameters", "recursive"], _DROP)
    doc = _set_in(doc, ["workflows", "execute_operation", "parameters", "operation"], YDict())
    doc = _set_in(
        doc,
        ["workflows", "check_drift", "parameters", "run_by_dependency_order"],
        YDict(type="boolean", default=False),
    )
    if variant == "types_1_4.yaml":
        return doc
    doc = _set_in(doc, ["tosca_definitions_version"], "cloudify_dsl_1_3")
    workflows = doc["workflows"]
    for name, wf in list(workflows.items()):
        params = YDict()
        for pname, pdef in wf.get("parameters", {}).items():
            params[pname] = _copy(pdef, type=_DROP, item_type=_DROP)
        changes: dict[str, Any] = {"parameters": params, "availability_rules": _DROP}
        if name in ("check_status", "check_drift"):
            changes["is_cascading"] = True
        workflows = _copy(workflows, **{name: _copy(wf, **changes)})
    heal = workflows["heal"]
    heal_params = YDict(
        node_instance_id=YDict(default=None),
        diagnose_value=heal["parameters"]["diagnose_value"],
        ignore_failure=heal["parameters"]["ignore_failure"],
    )
    workflows = _copy(workflows, heal=_copy(heal, parameters=heal_params))
    doc = _copy(doc, workflows=workflows)
    doc = _set_in(doc, ["node_types", "cloudify.nodes.PasswordSecret"], _DROP)
    for node_type in ("cloudify.nodes.Component", "cloudify.nodes.SharedResource"):
        for op in ("check_drift", "heal", "update"):
            path = ["node_types", node_type, "interfaces", "cloudify.interfaces.lifecycle", op]
            doc = _set_in(doc, path, _DROP)
        doc = _set_in(
            doc, ["node_types", node_type, "interfaces", "cloudify.interfaces.validation"], _DROP
        )
    root_rel = doc["relationships"]["cloudify.relationships.depends_on"]
    ops = YDict(
        preconfigure=YDict(),
        postconfigure=YDict(),
        establish=YDict(),
        unlink=YDict(),
        update_preconfigure=YDict(),
        update_postconfigure=YDict(),
        update_establish=YDict(),
        check_drift=YDict(),
    )
    lifecycle = YDict({"cloudify.interfaces.relationship_lifecycle": ops})
    root_rel = _copy(root_rel, source_interfaces=lifecycle, target_interfaces=lifecycle)
    doc = _set_in(doc, ["relationships", "cloudify.relationships.depends_on"], root_rel)
    for dt, prop in (
        ("cloudify.datatypes.Blueprint", "id"),
        ("cloudify.datatypes.ComponentDeployment", "id"),
        ("cloudify.datatypes.SharedResourceDeployment", "id"),
    ):
        path = ["data_types", dt, "properties", prop]
        prop_def = doc["data_types"][dt]["properties"][prop]
        doc = _set_in(doc, path, _copy(prop_def, type="string"))
    return doc


__all__ = [
    "ImportResolver",
    "NullResolver",
    "ResolvedImport",
    "is_standard_types_import",
    "plugin_name_from_url",
    "standard_types",
    "YList",
]
