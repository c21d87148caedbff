"""The import graph: loading every file a blueprint imports, breadth-first, de-duplicated."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .issues import Issues, Pos
from .loader import YDict, YList, load_yaml
from .namespaces import split_namespace
from .resolver import (
    ImportResolver,
    NullResolver,
    ResolvedImport,
    is_standard_types_import,
    plugin_name_from_url,
    standard_types,
)
from .versions import Gate, parse_version, version_str

TOP_LEVEL_KEYS = frozenset(
    {
        "tosca_definitions_version",
        "description",
        "imports",
        "dsl_definitions",
        "metadata",
        "inputs",
        "plugins",
        "node_types",
        "relationships",
        "node_templates",
        "policy_types",
        "policy_triggers",
        "groups",
        "policies",
        "workflows",
        "outputs",
        "data_types",
        "capabilities",
        "labels",
        "blueprint_labels",
        "deployment_settings",
        "resource_tags",
    }
)
MAX_IMPORTED_FILES = 500
_URL_SCHEMES = ("http://", "https://", "ftp://", "file:")


@dataclass
class SourceFile:
    """One loaded YAML file of the blueprint and how it was imported."""

    doc: YDict
    name: str
    namespace: str | None = None
    basic_types: bool = False
    blueprint_id: str | None = None
    local_dir: Path | None = None  # directory (inside the root) for relative imports
    plugin_properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedBlueprint:
    files: list[SourceFile]
    version: tuple[int, int]
    version_raw: str
    namespaces_mapping: dict[str, str] = field(default_factory=dict)
    imported_blueprints: list[str] = field(default_factory=list)


def is_basic_types(doc: YDict) -> bool:
    meta = doc.get("metadata")
    if isinstance(meta, dict) and meta.get("cloudify_types") is True:
        return True
    node_types = doc.get("node_types")
    return isinstance(node_types, dict) and "cloudify.nodes.Root" in node_types


def check_top_level(doc: YDict, issues: Issues) -> None:
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            issues.add("unknown_section", f"'{key}' is not in schema", doc.key_pos(key))


class _Walker:
    def __init__(
        self,
        root: Path | None,
        resolver: ImportResolver,
        version: tuple[int, int],
        version_raw: str,
        issues: Issues,
    ) -> None:
        self.root = root.resolve() if root is not None else None
        self.resolver = resolver
        self.version = version
        self.version_raw = version_raw
        self.issues = issues
        self.seen: set[tuple[Any, ...]] = set()
        self.result = LoadedBlueprint([], version, version_raw)
        self.gate = Gate(version, issues)

    def walk(self, main: SourceFile) -> LoadedBlueprint:
        queue = [main]
        while queue:
            current = queue.pop(0)
            self.result.files.append(current)
            if len(self.result.files) > MAX_IMPORTED_FILES:
                self.issues.add(
                    "too_many_imports",
                    f"more than {MAX_IMPORTED_FILES} imported files",
                    Pos(main.name),
                )
                break
            queue.extend(self._imports_of(current))
        return self.result

    def _imports_of(self, source: SourceFile) -> list[SourceFile]:
        doc = source.doc
        imports = doc.get("imports")
        if imports is None:
            return []
        if not isinstance(imports, list):
            self.issues.add("invalid_section", "'imports' must be a list", doc.value_pos("imports"))
            return []
        out: list[SourceFile] = []
        listed: set[str] = set()
        for index, item in enumerate(imports):
            at = imports.item_pos(index) if isinstance(imports, YList) else doc.pos()
            props: dict[str, Any] = {}
            if isinstance(item, dict) and len(item) == 1:
                url, props = next(iter(item.items()))
                if not self.gate.require((1, 5), "an import with plugin properties", at):
                    props = {}
                elif not isinstance(props, dict):
                    self.issues.add(
                        "invalid_import", f"properties of import '{url}' must be a dict", at
                    )
                    props = {}
            else:
                url = item
            if not isinstance(url, str) or not url:
                self.issues.add("invalid_import", f"import {item!r} must be a string", at)
                continue
            if url in listed:
                self.issues.add("duplicate_import", f"Import '{url}' is listed twice", at)
                continue
            listed.add(url)
            loaded = self._load_import(source, url, at)
            if loaded is not None:
                loaded.plugin_properties = dict(props)
                out.append(loaded)
        return out

    def _load_import(self, parent: SourceFile, url: str, at: Pos) -> SourceFile | None:
        ns, target = split_namespace(url)
        if ns is not None and parent.namespace and not parent.basic_types:
            ns = f"{parent.namespace}--{ns}"
        elif ns is None:
            ns = parent.namespace
        if is_standard_types_import(target):
            key: tuple[Any, ...] = ("types",)
            if key in self.seen:
                return None
            self.seen.add(key)
            doc = standard_types(self.version)
            return SourceFile(doc, doc.file, None, True)
        if target.startswith("blueprint:"):
            if split_namespace(url)[0] is None:
                self.issues.add(
                    "blueprint_import_without_namespace",
                    f"Import '{url}' of a blueprint must have a namespace ('ns--blueprint:<id>')",
                    at,
                )
                return None
            blueprint_id = target[len("blueprint:") :]
            resolved = self.resolver.blueprint_yaml(blueprint_id)
            key = ("blueprint", blueprint_id, ns)
            if resolved is None:
                self.issues.add(
                    "import_not_found", f"Imported blueprint '{blueprint_id}' was not found", at
                )
                return None
            if key in self.seen:
                return None
            self.seen.add(key)
            assert ns is not None
            self.result.namespaces_mapping[ns] = blueprint_id
            if blueprint_id not in self.result.imported_blueprints:
                self.result.imported_blueprints.append(blueprint_id)
            return self._from_text(resolved, ns, at, blueprint_id=blueprint_id)
        if target.startswith("plugin:"):
            return self._plugin(target[len("plugin:") :], ns, at)
        if target.startswith(_URL_SCHEMES):
            plugin = plugin_name_from_url(target)
            if plugin is not None:
                return self._plugin(plugin, ns, at, url=target)
            key = ("url", target, ns)
            if key in self.seen:
                return None
            resolved = self.resolver.url_yaml(target)
            if resolved is None:
                self.issues.add("import_not_found", f"Import failed: unable to open '{target}'", at)
                return None
            self.seen.add(key)
            return self._from_text(resolved, ns, at)
        return self._local(parent, target, ns, at)

    def _plugin(
        self, spec: str, ns: str | None, at: Pos, url: str | None = None
    ) -> SourceFile | None:
        name, _, query_text = spec.partition("?")
        query = dict(parse_qsl(query_text))
        key = ("plugin", name, tuple(sorted(query.items())), ns)
        if key in self.seen:
            return None
        resolved = self.resolver.plugin_yaml(name, query, self.version)
        if resolved is None:
            shown = url or f"plugin:{spec}"
            self.issues.add(
                "plugin_not_found",
                f"Import '{shown}': plugin '{name}' is not uploaded (no matching plugin found)",
                at,
            )
            return None
        self.seen.add(key)
        return self._from_text(resolved, ns, at)

    def _local(self, parent: SourceFile, target: str, ns: str | None, at: Pos) -> SourceFile | None:
        if self.root is None:
            self.issues.add(
                "import_not_found",
                f"Import failed: '{target}' cannot be resolved without a blueprint directory",
                at,
            )
            return None
        if os.path.isabs(target):
            self.issues.add(
                "import_escapes_root",
                f"Import '{target}' is an absolute path; only paths inside the "
                "blueprint directory can be imported",
                at,
            )
            return None
        bases = [d for d in (parent.local_dir, self.root) if d is not None]
        stem, ext = os.path.splitext(target)
        names = [f"{stem}_{self.version[0]}_{self.version[1]}{ext}", target]
        for base in dict.fromkeys(bases):
            for name in names:
                candidate = (base / name).resolve()
                if not candidate.is_relative_to(self.root):
                    self.issues.add(
                        "import_escapes_root",
                        f"Import '{target}' points outside the blueprint directory",
                        at,
                    )
                    return None
                if candidate.is_file():
                    key = ("file", str(candidate), ns)
                    if key in self.seen:
                        return None
                    self.seen.add(key)
                    rel = candidate.relative_to(self.root).as_posix()
                    try:
                        text = candidate.read_text(encoding="utf-8")
                    except (OSError, UnicodeDecodeError) as exc:
                        self.issues.add("import_not_found", f"Import '{target}' failed: {exc}", at)
                        return None
                    loaded = self._from_text(ResolvedImport(text, rel), ns, at)
                    if loaded is not None:
                        loaded.local_dir = candidate.parent
                    return loaded
        self.issues.add(
            "import_not_found",
            f"Import failed: '{target}' was not found in the blueprint directory",
            at,
        )
        return None

    def _from_text(
        self, resolved: ResolvedImport, ns: str | None, at: Pos, blueprint_id: str | None = None
    ) -> SourceFile | None:
        before = len(self.issues)
        doc = load_yaml(resolved.text, resolved.name, self.issues)
        if doc is None:
            if len(self.issues) > before:
                return None
            doc = YDict()  # an empty file imports nothing
            doc.file = resolved.name
        if not isinstance(doc, YDict):
            self.issues.add(
                "invalid_import", f"Imported file '{resolved.name}' is not a YAML mapping", at
            )
            return None
        raw = doc.get("tosca_definitions_version")
        if raw is not None:
            version = parse_version(raw)
            if version is None:
                self.issues.add(
                    "invalid_definitions_version",
                    f"Unexpected tosca_definitions_version '{raw}' in '{resolved.name}'",
                    doc.value_pos("tosca_definitions_version"),
                )
            elif version > self.version and blueprint_id is None:
                self.issues.add(
                    "import_version_higher",
                    f"An import cannot have a higher tosca_definitions_version than the main "
                    f"blueprint: '{resolved.name}' is {version_str(version)}, the main "
                    f"blueprint is {self.version_raw}",
                    doc.value_pos("tosca_definitions_version"),
                )
        basic = is_basic_types(doc)
        check_top_level(doc, self.issues)
        return SourceFile(doc, resolved.name, None if basic else ns, basic, blueprint_id)


def load_blueprint(
    root: Path | None,
    main_name: str,
    main_text: str,
    resolver: ImportResolver | None,
    issues: Issues,
) -> LoadedBlueprint | None:
    """Loads the main file and everything it imports; None when the main file is unusable."""
    doc = load_yaml(main_text, main_name, issues)
    if issues:
        return None
    if not isinstance(doc, YDict):
        issues.add(
            "invalid_blueprint", "The blueprint must be a YAML mapping", Pos(main_name, 1, 1)
        )
        return None
    check_top_level(doc, issues)
    raw = doc.get("tosca_definitions_version")
    if raw is None:
        issues.add(
            "missing_definitions_version",
            "Please specify tosca_definitions_version at the top level of the blueprint",
            Pos(main_name, 1, 1),
        )
        return None
    version = parse_version(raw)
    if version is None:
        issues.add(
            "invalid_definitions_version",
            f"Unexpected tosca_definitions_version '{raw}'; supported versions are "
            "cloudify_dsl_1_0 to cloudify_dsl_1_5",
            doc.value_pos("tosca_definitions_version"),
        )
        return None
    main_dir = (root / main_name).parent if root is not None else None
    main = SourceFile(doc, main_name, local_dir=main_dir.resolve() if main_dir else None)
    walker = _Walker(root, resolver or NullResolver(), version, raw, issues)
    return walker.walk(main)
