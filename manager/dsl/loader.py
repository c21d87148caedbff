"""YAML loading that keeps the position of every key and value, with size and alias limits."""

from __future__ import annotations

import gc
import re
from collections.abc import Collection, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .issues import Issues, Pos

# Limits protect the API process from hostile uploads (alias bombs, absurd nesting).
MAX_YAML_BYTES = 20 * 1024 * 1024
MAX_EXPANDED_NODES = 2_000_000
MAX_DEPTH = 200

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YDict(dict):
    """A mapping loaded from YAML; `marks[key]` = (key line, key col, value line, value col)."""

    __slots__ = ("file", "marks", "line", "column")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.file = ""
        self.marks: dict[Any, tuple[int, int, int, int]] = {}
        self.line = 0
        self.column = 0

    def pos(self) -> Pos:
        return Pos(self.file, self.line, self.column)

    def key_pos(self, key: Any) -> Pos:
        m = self.marks.get(key)
        return Pos(self.file, m[0], m[1]) if m else self.pos()

    def value_pos(self, key: Any) -> Pos:
        m = self.marks.get(key)
        return Pos(self.file, m[2], m[3]) if m else self.pos()


class YList(list):
    """A sequence loaded from YAML; `marks[i]` = (line, col) of item i."""

    __slots__ = ("file", "marks", "line", "column")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.file = ""
        self.marks: list[tuple[int, int]] = []
        self.line = 0
        self.column = 0

    def pos(self) -> Pos:
        return Pos(self.file, self.line, self.column)

    def item_pos(self, index: int) -> Pos:
        if 0 <= index < len(self.marks):
            line, col = self.marks[index]
            return Pos(self.file, line, col)
        return self.pos()


def pos_of(value: Any, key: Any = None, fallback: Pos | None = None) -> Pos:
    """Best position for `value[key]` (or `value` itself) whatever container it is."""
    if isinstance(value, YDict):
        return value.value_pos(key) if key is not None else value.pos()
    if isinstance(value, YList):
        return value.item_pos(key) if isinstance(key, int) else value.pos()
    return fallback or Pos()


def key_pos_of(value: Any, key: Any, fallback: Pos | None = None) -> Pos:
    if isinstance(value, YDict):
        return value.key_pos(key)
    return pos_of(value, key, fallback)


def report_unknown_keys(
    raw: dict[Any, Any], allowed: Collection[Any], where: str, issues: Issues, at: Pos
) -> None:
    """Report each key of `raw` that is not in `allowed` as `unknown_key`, at the key itself.

    `where` names the mapping in the message, for example "workflow 'install'".
    """
    for key in raw:
        if key not in allowed:
            issues.add(
                "unknown_key", f"'{key}' is not in schema ({where})", key_pos_of(raw, key, at)
            )


_RESOLVE_CACHE: dict[tuple[str, bool, bool], str] = {}
_RESOLVE_CACHE_MAX = 200_000


class _MemoisedResolve:
    dsl_file = ""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        # Implicit tag resolution runs regexes in Python for every scalar; blueprints repeat
        # the same scalars (type names, keys) thousands of times, so memoise it.
        if kind is ScalarNode and isinstance(value, str) and len(value) < 128:
            key = (value, implicit[0], implicit[1])
            tag = _RESOLVE_CACHE.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[misc]
                if len(_RESOLVE_CACHE) >= _RESOLVE_CACHE_MAX:
                    _RESOLVE_CACHE.clear()
                _RESOLVE_CACHE[key] = tag
            return tag
        return super().resolve(kind, value, implicit)  # type: ignore[misc]


class _PositionLoader(_MemoisedResolve, _BaseLoader):  # type: ignore[misc,valid-type]
    """libyaml's parser: fast."""


class _PurePositionLoader(_MemoisedResolve, yaml.SafeLoader):
    """PyYAML's pure-Python parser, the one cloudify uses: its verdict is the reference's."""


# The scanners disagree on a few inputs. libyaml alone accepts a tab between tokens (`a: b<TAB>`)
# and a block scalar header followed by '#' (`>#`): documents holding either go straight to
# the pure-Python loader (slower, but rare). The Python scanner alone accepts a plain scalar
# ending in ':' inside a flow collection (`[http://host:, 80]`): a document libyaml refuses is
# asked again of the Python loader, whose error is the one reported.
_PYTHON_ONLY_REFUSES_BYTES = re.compile(rb"\t|[|>][-+0-9]*#")


def _python_only_refuses(text: str | bytes) -> bool:
    """Whether `text` holds a tab or a `[|>][-+0-9]*#` (a regex over the whole text costs
    milliseconds; comments are few, so the '#'s are looked at one by one)."""
    if isinstance(text, bytes):
        return _PYTHON_ONLY_REFUSES_BYTES.search(text) is not None
    if "\t" in text:
        return True
    at = text.find("#")
    while at != -1:
        before = at - 1
        while before >= 0 and text[before] in "-+0123456789":
            before -= 1
        if before >= 0 and text[before] in "|>":
            return True
        at = text.find("#", at + 1)
    return False


def _first_loader(text: str | bytes) -> Any:
    if _BaseLoader is yaml.SafeLoader or _python_only_refuses(text):
        return _PurePositionLoader(text)
    return _PositionLoader(text)


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_KEEP_TEXT = frozenset({"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"})


def _convert(loader: Any, root: Node) -> Any:
    """Node tree → YDict/YList/scalars with positions.

    A direct recursive walk (depth is bounded by _check_size) instead of PyYAML's
    generator-based constructor, which is about twice as slow; an alias yields the same
    object as its anchor, as in PyYAML.
    """
    memo: dict[int, Any] = {}
    file = loader.dsl_file
    scalar_constructors = loader.yaml_constructors

    def conv(node: Node) -> Any:
        cls = type(node)
        tag = node.tag
        if cls is ScalarNode:
            if tag == _STR or tag in _KEEP_TEXT:
                return node.value  # the plan stays JSON: no date or bytes objects
            constructor = scalar_constructors.get(tag)
            if constructor is None:
                return loader.construct_object(node, deep=True)  # raises for unknown tags
            return constructor(loader, node)
        hit = memo.get(id(node))
        if hit is not None:
            return hit
        mark = node.start_mark
        if cls is MappingNode and tag == _MAP:
            data = YDict()
            data.file, data.line, data.column = file, mark.line + 1, mark.column + 1
            memo[id(node)] = data
            loader.flatten_mapping(node)  # resolves `<<` merge keys into plain pairs
            marks = data.marks
            for key_node, value_node in node.value:
                if type(key_node) is ScalarNode and key_node.tag == _STR:
                    key = key_node.value
                else:
                    key = conv(key_node)
                    if not isinstance(key, Hashable):
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping",
                            mark,
                            "found unhashable key",
                            key_node.start_mark,
                        )
                data[key] = conv(value_node)
                km, vm = key_node.start_mark, value_node.start_mark
                marks[key] = (km.line + 1, km.column + 1, vm.line + 1, vm.column + 1)
            return data
        if cls is SequenceNode and tag == _SEQ:
            items = YList()
            items.file, items.line, items.column = file, mark.line + 1, mark.column + 1
            memo[id(node)] = items
            item_marks = items.marks
            for item in node.value:
                items.append(conv(item))
                m = item.start_mark
                item_marks.append((m.line + 1, m.column + 1))
            return items
        value = loader.construct_object(node, deep=True)  # !!set, !!omap, !!pairs
        if isinstance(value, set):
            return [conv(k) for k, _ in node.value]
        return [list(pair) for pair in value] if isinstance(value, list) else value

    return conv(root)


class _TooBig(Exception):
    def __init__(self, code: str, message: str, node: Node) -> None:
        super().__init__(message)
        self.code = code
        self.node = node


def _check_size(root: Node) -> None:
    """Count nodes as if aliases were expanded; memoised so a bomb is measured, not built."""
    sizes: dict[int, int] = {}

    def size(node: Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _TooBig("yaml_too_deep", f"document nested deeper than {MAX_DEPTH} levels", node)
        known = sizes.get(id(node))
        if known is not None:
            if known < 0:
                raise _TooBig("yaml_recursive_alias", "an alias refers to its own anchor", node)
            return known
        sizes[id(node)] = -1  # in progress: meeting it again means a recursive alias
        total = 1
        children = node.value
        if isinstance(node, MappingNode):
            children = [n for pair in children for n in pair]
        for child in children:
            total += 1 if type(child) is ScalarNode else size(child, depth + 1)
        if total > MAX_EXPANDED_NODES:
            raise _TooBig(
                "yaml_too_large",
                f"document expands to more than {MAX_EXPANDED_NODES} nodes (alias bomb?)",
                node,
            )
        sizes[id(node)] = total
        return total

    size(root, 0)


def load_yaml(text: str | bytes, file: str, issues: Issues) -> Any:
    """Parse one YAML document; problems become issues and the result is None."""
    if len(text) > MAX_YAML_BYTES:
        issues.add("yaml_too_large", f"file is larger than {MAX_YAML_BYTES} bytes", Pos(file, 1, 1))
        return None
    loader: Any = _first_loader(text)
    loader.dsl_file = file
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError:
            if isinstance(loader, _PurePositionLoader):
                raise
            loader.dispose()
            loader = _PurePositionLoader(text)
            loader.dsl_file = file
            root = loader.get_single_node()
        if root is None:
            return None
        if type(root) is not ScalarNode:
            _check_size(root)
        return _convert(loader, root)
    except _TooBig as exc:
        mark = exc.node.start_mark
        issues.add(exc.code, str(exc), Pos(file, mark.line + 1, mark.column + 1))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        issues.add("yaml_syntax_error", f"invalid YAML: {problem}{context}", Pos(file, line, col))
    except yaml.YAMLError as exc:
        issues.add("yaml_syntax_error", f"invalid YAML: {exc}", Pos(file, 1, 1))
    except RecursionError:
        issues.add("yaml_too_deep", "document nested too deeply", Pos(file, 1, 1))
    finally:
        loader.dispose()
    return None


def plain(value: Any) -> Any:
    """Deep copy into plain dicts/lists (the plan must not keep loader objects)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building large acyclic trees.

    Parsing allocates hundreds of thousands of containers and none of them form cycles
    worth collecting; generation-2 sweeps then dominate (measured: 2× on 1,000 nodes).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
