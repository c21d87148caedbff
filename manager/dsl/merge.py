"""Merging the sections of every imported file into one blueprint (dsl.md §4.3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .imports import TOP_LEVEL_KEYS, LoadedBlueprint, SourceFile
from .issues import Issues, Pos
from .loader import YDict, YList
from .namespaces import NAMED_SECTIONS, Rewriter, prefixed

_STRICT = (
    "node_types",
    "data_types",
    "relationships",
    "plugins",
    "policy_types",
    "policy_triggers",
    "groups",
    "policies",
)
_FIRST_WINS_ITEMS = ("workflows",)
_MULTI_FROM_1_3 = (
    "inputs",
    "outputs",
    "node_templates",
    "capabilities",
    "labels",
    "blueprint_labels",
    "resource_tags",
)
_FIRST_WINS = ("description", "metadata", "deployment_settings")


def _declared_names(files: list[SourceFile]) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {s: set() for s in NAMED_SECTIONS}
    for f in files:
        for section in NAMED_SECTIONS:
            body = f.doc.get(section)
            if isinstance(body, dict):
                for name in body:
                    names[section].add(prefixed(f.namespace, name) if f.namespace else name)
    return names


def _apply_plugin_properties(doc: YDict, props: dict[str, Any]) -> YDict:
    plugins = doc.get("plugins")
    if not props or not isinstance(plugins, dict):
        return doc
    new_plugins = YDict(plugins)
    new_plugins.file = getattr(plugins, "file", "")
    new_plugins.marks = getattr(plugins, "marks", {})
    for name, plugin in plugins.items():
        if not isinstance(plugin, dict):
            continue
        raw_props = plugin.get("properties")
        declared: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        merged = YDict(declared)
        merged.file = plugin.file if isinstance(plugin, YDict) else ""
        for key, value in props.items():
            entry = dict(declared.get(key) or {})
            entry["value"] = value
            merged[key] = entry
        new_plugin = YDict(plugin)
        new_plugin.file, new_plugin.marks = merged.file, getattr(plugin, "marks", {})
        new_plugin["properties"] = merged
        new_plugins[name] = new_plugin
    new_doc = YDict(doc)
    new_doc.file, new_doc.marks = doc.file, doc.marks
    new_doc["plugins"] = new_plugins
    return new_doc


def _combine_templates(first: Any, second: Any) -> Any | None:
    """A template re-declared with only `relationships` extends the full declaration."""
    if not (isinstance(first, dict) and isinstance(second, dict)):
        return None
    if set(second) == {"relationships"}:
        full, extra = first, second
    elif set(first) == {"relationships"}:
        full, extra = second, first
    else:
        return None
    merged = YDict(full)
    merged.file = getattr(full, "file", "")
    merged.marks, merged.line, merged.column = (
        getattr(full, "marks", {}),
        getattr(full, "line", 0),
        getattr(full, "column", 0),
    )
    rels = YList(list(full.get("relationships") or []) + list(extra.get("relationships") or []))
    for part in (full.get("relationships"), extra.get("relationships")):
        if isinstance(part, YList):
            rels.file = rels.file or part.file
            rels.marks.extend(part.marks)
    merged["relationships"] = rels
    return merged


@dataclass
class Merged:
    """The merged sections, and where each element's name was written."""

    sections: dict[str, Any] = field(default_factory=dict)
    positions: dict[tuple[str, Any], Pos] = field(default_factory=dict)

    def get(self, section: str) -> Any:
        return self.sections.get(section)

    def dict_section(self, section: str) -> dict[Any, Any]:
        body = self.sections.get(section)
        return body if isinstance(body, dict) else {}

    def pos(self, section: str, name: Any) -> Pos:
        return self.positions.get((section, name)) or Pos()


def merge_files(loaded: LoadedBlueprint, issues: Issues) -> Merged:
    """One dict per section; every element keeps the position of the file it came from."""
    declared = _declared_names(loaded.files)
    result = Merged()
    merged = result.sections
    positions = result.positions
    seen_in: dict[str, int] = {}
    for source in loaded.files:
        doc = source.doc
        if source.plugin_properties:
            doc = _apply_plugin_properties(doc, source.plugin_properties)
        if source.namespace:
            doc = Rewriter(source.namespace, declared, source.blueprint_id is not None).file(doc)
        for section, body in doc.items():
            if section in ("tosca_definitions_version", "imports", "dsl_definitions") or (
                section not in TOP_LEVEL_KEYS
            ):
                continue
            if section in _FIRST_WINS:
                merged.setdefault(section, body)
                continue
            if body is None:
                continue
            if not isinstance(body, dict):
                issues.add("invalid_section", f"'{section}' must be a dict", doc.value_pos(section))
                continue
            if section in _MULTI_FROM_1_3:
                seen_in[section] = seen_in.get(section, 0) + 1
                if seen_in[section] > 1 and loaded.version < (1, 3):
                    issues.add(
                        "import_section_not_mergeable",
                        f"'{section}' can be imported multiple times only from cloudify_dsl_1_3",
                        doc.key_pos(section),
                    )
                    continue
            target = merged.get(section)
            if target is None:
                target = merged[section] = {}
            for name, element in body.items():
                if name in target:
                    if section in _FIRST_WINS_ITEMS:
                        continue
                    if target[name] is element:
                        continue
                    if section == "node_templates":
                        combined = _combine_templates(target[name], element)
                        if combined is not None:
                            target[name] = combined
                            continue
                    issues.add(
                        "duplicate_definition",
                        f"Could not merge '{section}' due to conflict on '{name}'",
                        body.key_pos(name) if isinstance(body, YDict) else None,
                    )
                    continue
                target[name] = element
                if isinstance(body, YDict):
                    positions[(section, name)] = body.key_pos(name)
    for section in _FIRST_WINS:
        if section in merged:
            positions[(section, None)] = Pos()
    return result
