"""Parse-time checks of intrinsic function calls: arguments, references and scopes."""

from __future__ import annotations

from typing import Any

from .functions import SPECIAL_REFS, function_of, has_step
from .issues import Issues, Pos


class FunctionChecker:
    """Reports unknown inputs, nodes and properties, and SELF/SOURCE/TARGET out of scope."""

    def __init__(
        self, inputs: dict[str, Any], nodes: dict[str, dict[str, Any]], issues: Issues
    ) -> None:
        self.inputs = inputs
        self.nodes = nodes
        self.issues = issues

    def check(
        self,
        value: Any,
        scope: str,
        where: str,
        at: Pos,
        self_node: str | None = None,
    ) -> None:
        """scope: node | relationship | output | label | other."""
        if isinstance(value, dict):
            fn = function_of(value)
            if fn is not None:
                self._call(fn[0], fn[1], scope, where, at, self_node)
                self.check(fn[1], scope, where, at, self_node)
                return
            for v in value.values():
                self.check(v, scope, where, at, self_node)
        elif isinstance(value, list):
            for v in value:
                self.check(v, scope, where, at, self_node)

    def _bad(self, code: str, message: str, at: Pos) -> None:
        self.issues.add(code, message, at)

    def _call(
        self, name: str, args: Any, scope: str, where: str, at: Pos, self_node: str | None
    ) -> None:
        if name == "get_input":
            first = args[0] if isinstance(args, list) and args else args
            if isinstance(args, list) and not args:
                self._bad("invalid_function", f"get_input in {where} has no arguments", at)
            elif isinstance(first, str):
                if first not in self.inputs:
                    self._bad(
                        "unknown_input",
                        f"get_input function in {where} refers to an unknown input '{first}'",
                        at,
                    )
            elif function_of(first) is None:
                self._bad(
                    "invalid_function",
                    f"get_input in {where} must name an input, got {first!r}",
                    at,
                )
        elif name in (
            "get_property",
            "get_attribute",
            "get_attributes_list",
            "get_attributes_dict",
        ):
            self._node_function(name, args, scope, where, at, self_node)
        elif name in ("concat", "merge"):
            if not isinstance(args, list):
                self._bad("invalid_function", f"{name} in {where} expects a list", at)
            elif name == "merge":
                for item in args:
                    if not isinstance(item, dict):
                        self._bad(
                            "invalid_function", f"merge in {where} expects dicts, got {item!r}", at
                        )
        elif name in ("string_find", "string_replace", "string_split"):
            sizes = {"string_find": (2,), "string_replace": (3, 4), "string_split": (2, 3)}
            if not isinstance(args, list) or len(args) not in sizes[name]:
                self._bad(
                    "invalid_function", f"{name} in {where} has a wrong number of arguments", at
                )
        elif name in ("get_capability", "get_group_capability"):
            if not isinstance(args, list) or len(args) < 2:
                self._bad(
                    "invalid_function", f"{name} in {where} expects [id, capability, ...]", at
                )
        elif name == "get_sys" and (not isinstance(args, list) or len(args) != 2):
            self._bad("invalid_function", f"get_sys in {where} expects [entity, property]", at)
        if scope == "label" and name in (
            "get_attribute",
            "get_attributes_list",
            "get_attributes_dict",
        ):
            self._bad("invalid_function_scope", f"{name} cannot be used in {where}", at)

    def _node_function(
        self, name: str, args: Any, scope: str, where: str, at: Pos, self_node: str | None
    ) -> None:
        if not isinstance(args, list) or len(args) < 2:
            self._bad(
                "invalid_function",
                f"{name} in {where} expects [node, property, ...], got {args!r}",
                at,
            )
            return
        ref = args[0]
        if function_of(ref) is not None:
            return
        if ref in SPECIAL_REFS:
            if name in ("get_attributes_list", "get_attributes_dict"):
                self._bad(
                    "invalid_function_scope", f"{name} in {where} must name a node, not {ref}", at
                )
                return
            allowed = {"node": ("SELF",), "relationship": ("SOURCE", "TARGET")}.get(scope, ())
            if name == "get_property" and scope == "relationship":
                allowed = ("SOURCE", "TARGET")
            if ref not in allowed:
                self._bad(
                    "invalid_function_scope", f"{ref} cannot be used with {name} in {where}", at
                )
                return
            node_name = self_node if ref == "SELF" else None
            if node_name is None:
                return  # SOURCE/TARGET properties are checked by the relationship owner
        else:
            if not isinstance(ref, str) or ref not in self.nodes:
                self._bad(
                    "unknown_node",
                    f"{name} function node reference '{ref}' in {where} does not exist",
                    at,
                )
                return
            node_name = ref
        if name == "get_property":
            self._property_path(node_name, list(args[1:]), where, at)

    def _property_path(self, node_name: str, path: list[Any], where: str, at: Pos) -> None:
        node = self.nodes.get(node_name)
        if node is None:
            return
        value: Any = node.get("properties") or {}
        for step in path:
            if function_of(step) is not None or function_of(value) is not None:
                return
            if has_step(value, step):
                value = value[step]
            else:
                shown = ".".join(str(p) for p in path)
                self._bad(
                    "unknown_node_property",
                    f"Node template property '{shown}' referenced from '{node_name}' "
                    f"doesn't exist ({where})",
                    at,
                )
                return

    def check_relationship_property(
        self, value: Any, source: str, target: str, where: str, at: Pos
    ) -> None:
        """SOURCE/TARGET get_property paths resolved against the two nodes."""
        if isinstance(value, dict):
            fn = function_of(value)
            if (
                fn is not None
                and fn[0] == "get_property"
                and isinstance(fn[1], list)
                and len(fn[1]) >= 2
                and fn[1][0] in ("SOURCE", "TARGET")
            ):
                node = source if fn[1][0] == "SOURCE" else target
                self._property_path(node, list(fn[1][1:]), where, at)
            for v in value.values():
                self.check_relationship_property(v, source, target, where, at)
        elif isinstance(value, list):
            for v in value:
                self.check_relationship_property(v, source, target, where, at)
