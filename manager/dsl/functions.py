"""Intrinsic functions (§17): one evaluator for deployment-creation and runtime evaluation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .instance_lookup import choose_instance, get_instance
from .issues import (
    FunctionEvaluationError,
    SecretNotPermittedError,
    UnknownSecretError,
    UnsupportedGetSecretError,
)
from .storage import FunctionStorage

STATIC_FUNCTIONS = frozenset(
    {
        "get_input",
        "get_property",
        "concat",
        "merge",
        "string_find",
        "string_replace",
        "string_split",
        "string_lower",
        "string_upper",
    }
)
RUNTIME_FUNCTIONS = frozenset(
    {
        "get_attribute",
        "get_attributes_list",
        "get_attributes_dict",
        "get_secret",
        "get_capability",
        "get_environment_capability",
        "get_group_capability",
        "get_label",
        "get_sys",
        "get_consumers",
    }
)
ALL_FUNCTIONS = STATIC_FUNCTIONS | RUNTIME_FUNCTIONS
MAX_RECURSION = 50
SPECIAL_REFS = ("SELF", "SOURCE", "TARGET")


def function_of(value: Any) -> tuple[str, Any] | None:
    """(name, args) when `value` is a function call: `{fn: args}` or `{fn: args, type: t}`."""
    if not isinstance(value, dict) or not 0 < len(value) <= 2:
        return None
    name = None
    for key in value:
        if key in ALL_FUNCTIONS:
            if name is not None:
                return None
            name = key
        elif key != "type":
            return None
    if name is None:
        return None
    return name, value[name]


def has_functions(value: Any, only: frozenset[str] = ALL_FUNCTIONS) -> bool:
    if isinstance(value, dict):
        fn = function_of(value)
        if fn is not None and fn[0] in only:
            return True
        return any(has_functions(v, only) for v in value.values())
    if isinstance(value, list):
        return any(has_functions(v, only) for v in value)
    return False


def has_runtime_functions(value: Any) -> bool:
    return has_functions(value, RUNTIME_FUNCTIONS)


@dataclass(frozen=True)
class Scope:
    """Where a value sits: which node SELF/SOURCE/TARGET mean, and (at runtime) which
    node instances."""

    kind: str = "node"  # node | relationship | output | capability | label | policy | other
    self_node: str | None = None
    source_node: str | None = None
    target_node: str | None = None
    self_instance: str | None = None
    source_instance: str | None = None
    target_instance: str | None = None
    where: str = ""


def has_step(value: Any, step: Any) -> bool:
    """Whether `value[step]` exists (dict key or in-range list index)."""
    if isinstance(value, dict):
        return step in value
    return (
        isinstance(value, list)
        and isinstance(step, int)
        and not isinstance(step, bool)
        and -len(value) <= step < len(value)
    )


def walk_path(value: Any, path: list[Any], what: str, missing_ok: bool = False) -> Any:
    for step in path:
        if has_step(value, step):
            value = value[step]
        else:
            if missing_ok:
                return None
            raise FunctionEvaluationError(f"{what}: path element {step!r} not found")
    return value


def _name_and_path(args: Any, fn: str) -> tuple[Any, list[Any]]:
    if isinstance(args, list):
        if not args:
            raise FunctionEvaluationError(f"{fn}: needs at least one argument")
        return args[0], list(args[1:])
    return args, []


class _Unresolved(Exception):
    """A static function depends on something only known at runtime: keep it as is."""


class Evaluator:
    """Evaluates functions in a payload.

    Static mode (deployment creation) computes what depends only on inputs and node
    properties and leaves runtime functions in place; runtime mode also evaluates
    runtime functions through `storage`.
    """

    def __init__(
        self,
        *,
        inputs: dict[str, Any] | None = None,
        nodes: dict[str, dict[str, Any]] | None = None,
        storage: FunctionStorage | None = None,
        runtime: bool = False,
    ) -> None:
        self.inputs = inputs
        self.nodes = nodes
        self.storage = storage
        self.runtime = runtime

    def evaluate(self, value: Any, scope: Scope, depth: int = 0) -> Any:
        if isinstance(value, dict):
            fn = function_of(value)
            if fn is None:
                return {k: self.evaluate(v, scope, depth) for k, v in value.items()}
            return self._call(fn[0], fn[1], value, scope, depth)
        if isinstance(value, list):
            return [self.evaluate(v, scope, depth) for v in value]
        return value

    def _call(self, name: str, raw_args: Any, raw: dict, scope: Scope, depth: int) -> Any:
        if depth > MAX_RECURSION:
            raise FunctionEvaluationError(
                f"Max recursion depth ({MAX_RECURSION}) reached while evaluating {name} "
                "(circular reference?)"
            )
        args = self.evaluate(raw_args, scope, depth + 1)
        if not self.runtime and (name in RUNTIME_FUNCTIONS or has_functions(args)):
            kept = dict(raw)
            kept[name] = args
            return kept
        if has_functions(args):
            raise FunctionEvaluationError(f"{name}: arguments could not be evaluated: {args!r}")
        handler = _HANDLERS[name]
        try:
            return handler(self, args, scope, depth)
        except _Unresolved:
            if self.runtime:
                raise FunctionEvaluationError(f"{name}: could not be evaluated") from None
            kept = dict(raw)
            kept[name] = args
            return kept

    # ----- static --------------------------------------------------------------------

    def _get_input(self, args: Any, scope: Scope, depth: int) -> Any:
        name, path = _name_and_path(args, "get_input")
        if self.inputs is not None:
            if name not in self.inputs:
                raise FunctionEvaluationError(f"get_input: unknown input '{name}'")
            value = self.inputs[name]
        elif self.storage is not None:
            try:
                value = self.storage.get_input(name)
            except KeyError:
                raise FunctionEvaluationError(f"get_input: unknown input '{name}'") from None
        else:
            raise FunctionEvaluationError("get_input: no inputs available")
        value = walk_path(value, path, f"get_input '{name}'")
        return self.evaluate(value, scope, depth + 1)

    def _node_for(self, ref: Any, scope: Scope, fn: str) -> str:
        if ref == "SELF":
            node = scope.self_node
        elif ref == "SOURCE":
            node = scope.source_node
        elif ref == "TARGET":
            node = scope.target_node
        else:
            node = ref
        if not isinstance(node, str):
            raise FunctionEvaluationError(f"{fn}: {ref} cannot be used {scope.where or 'here'}")
        return node

    def _node(self, node_id: str, fn: str) -> dict[str, Any]:
        if self.nodes is not None and node_id in self.nodes:
            return self.nodes[node_id]
        if self.storage is not None:
            try:
                return self.storage.get_node(node_id)
            except KeyError:
                pass
        raise FunctionEvaluationError(f"{fn}: node '{node_id}' does not exist")

    def _get_property(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) < 2:
            raise FunctionEvaluationError("get_property: expects [node, property, ...]")
        node_id = self._node_for(args[0], scope, "get_property")
        value = self._node(node_id, "get_property").get("properties") or {}
        # the property's own functions are evaluated in the referenced node's scope,
        # also midway when the path walks into a value that is itself a function
        node_scope = Scope(kind="node", self_node=node_id)
        for step in args[1:]:
            if function_of(value) is not None:
                value = self.evaluate(value, node_scope, depth + 1)
                if function_of(value) is not None:
                    raise _Unresolved
            value = walk_path(value, [step], f"get_property of node '{node_id}'")
        return self.evaluate(value, node_scope, depth + 1)

    def _concat(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list):
            raise FunctionEvaluationError("concat: expects a list")
        return "".join(str(a) for a in args)

    def _merge(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list):
            raise FunctionEvaluationError("merge: expects a list of dicts")
        result: dict[str, Any] = {}
        for item in args:
            if not isinstance(item, dict):
                raise FunctionEvaluationError(f"merge: {item!r} is not a dict")
            result.update(item)
        return result

    def _string_find(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) != 2:
            raise FunctionEvaluationError("string_find: expects [haystack, needle]")
        return str(args[0]).find(str(args[1]))

    def _string_replace(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) not in (3, 4):
            raise FunctionEvaluationError("string_replace: expects [string, old, new, count?]")
        count = args[3] if len(args) == 4 else -1
        return str(args[0]).replace(str(args[1]), str(args[2]), int(count))

    def _string_split(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) not in (2, 3):
            raise FunctionEvaluationError("string_split: expects [string, separator, index?]")
        parts = str(args[0]).split(str(args[1]))
        if len(args) == 3:
            try:
                return parts[int(args[2])]
            except (IndexError, ValueError, TypeError):
                raise FunctionEvaluationError(
                    f"string_split: index {args[2]!r} out of range"
                ) from None
        return parts

    def _string_lower(self, args: Any, scope: Scope, depth: int) -> Any:
        return str(args).lower()

    def _string_upper(self, args: Any, scope: Scope, depth: int) -> Any:
        return str(args).upper()

    # ----- runtime -------------------------------------------------------------------

    def _store(self, fn: str) -> FunctionStorage:
        if self.storage is None:
            raise FunctionEvaluationError(f"{fn}: needs deployment storage")
        return self.storage

    def _instance(self, ref: Any, scope: Scope, fn: str) -> dict[str, Any]:
        store = self._store(fn)
        special = {
            "SELF": scope.self_instance,
            "SOURCE": scope.source_instance,
            "TARGET": scope.target_instance,
        }
        if ref in special:
            instance_id = special[ref]
            if instance_id is None:
                raise FunctionEvaluationError(
                    f"{fn}: {ref} cannot be used {scope.where or 'without a node instance'}"
                )
            return get_instance(store, instance_id)
        candidates = store.get_node_instances(ref)
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise FunctionEvaluationError(f"{fn}: node '{ref}' has no node instances")
        callers = [
            get_instance(store, i)
            for i in (
                [scope.self_instance]
                if scope.self_instance
                else [scope.source_instance, scope.target_instance]
            )
            if i is not None
        ]
        if callers:
            chosen = choose_instance(store, candidates, callers)
            if chosen is not None:
                return chosen
        raise FunctionEvaluationError(
            f"More than one node instance found for node '{ref}' "
            f"({len(candidates)} instances); cannot resolve {fn} unambiguously"
        )

    def _attribute(self, instance: dict[str, Any], path: list[Any]) -> Any:
        attr, rest = path[0], path[1:]
        runtime = instance.get("runtime_properties") or {}
        if attr in runtime:
            return walk_path(runtime[attr], rest, "get_attribute", missing_ok=True)
        if attr == "node_instance_id":
            return instance["id"]
        if attr == "node_instance_index":
            return instance.get("index")
        try:
            node = self._node(instance["node_id"], "get_attribute")
        except FunctionEvaluationError:
            return None
        props = node.get("properties") or {}
        if attr in props:
            value = walk_path(props[attr], rest, "get_attribute", missing_ok=True)
            return self.evaluate(
                value,
                Scope(kind="node", self_node=instance["node_id"], self_instance=instance["id"]),
                1,
            )
        return None

    def _get_attribute(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) < 2:
            raise FunctionEvaluationError("get_attribute: expects [node, attribute, ...]")
        instance = self._instance(args[0], scope, "get_attribute")
        return self._attribute(instance, list(args[1:]))

    def _get_attributes_list(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) < 2:
            raise FunctionEvaluationError("get_attributes_list: expects [node, attribute, ...]")
        node_id = self._node_for(args[0], scope, "get_attributes_list")
        instances = self._store("get_attributes_list").get_node_instances(node_id)
        return [self._attribute(i, list(args[1:])) for i in instances]

    def _get_attributes_dict(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) < 2:
            raise FunctionEvaluationError("get_attributes_dict: expects [node, attr, ...]")
        node_id = self._node_for(args[0], scope, "get_attributes_dict")
        instances = self._store("get_attributes_dict").get_node_instances(node_id)
        result = {}
        for instance in instances:
            values = {}
            for spec in args[1:]:
                path = list(spec) if isinstance(spec, list) else [spec]
                key = ".".join(str(p) for p in path)
                values[key] = self._attribute(instance, path)
            result[instance["id"]] = values
        return result

    def _get_secret(self, args: Any, scope: Scope, depth: int) -> Any:
        if self.storage is None:
            raise UnsupportedGetSecretError("get_secret: secrets are not available here")
        name, path = _name_and_path(args, "get_secret")
        try:
            value = self.storage.get_secret(name)
        except KeyError:
            raise UnknownSecretError(f"Required secret '{name}' does not exist") from None
        if path:
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise FunctionEvaluationError(
                        f"get_secret: secret '{name}' is not JSON, cannot index it"
                    ) from None
            value = walk_path(value, path, f"get_secret '{name}'")
        return value

    def _get_capability(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) < 2:
            raise FunctionEvaluationError("get_capability: expects [deployment, capability]")
        try:
            value = self._store("get_capability").get_capability(str(args[0]), args[1])
        except KeyError:
            raise FunctionEvaluationError(
                f"get_capability: deployment '{args[0]}' has no capability '{args[1]}'"
            ) from None
        return walk_path(value, list(args[2:]), "get_capability")

    def _get_environment_capability(self, args: Any, scope: Scope, depth: int) -> Any:
        name, path = _name_and_path(args, "get_environment_capability")
        try:
            value = self._store("get_environment_capability").get_environment_capability(name)
        except KeyError:
            raise FunctionEvaluationError(
                f"get_environment_capability: no capability '{name}'"
            ) from None
        return walk_path(value, path, "get_environment_capability")

    def _get_group_capability(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) < 2:
            raise FunctionEvaluationError("get_group_capability: expects [group, capability]")
        names = args[1] if isinstance(args[1], list) else [args[1]]
        try:
            return self._store("get_group_capability").get_group_capability(args[0], names)
        except KeyError:
            raise FunctionEvaluationError(
                f"get_group_capability: unknown deployment group '{args[0]}'"
            ) from None

    def _get_label(self, args: Any, scope: Scope, depth: int) -> Any:
        key, path = _name_and_path(args, "get_label")
        try:
            values = self._store("get_label").get_label(key)
        except KeyError:
            raise FunctionEvaluationError(f"get_label: deployment has no label '{key}'") from None
        return walk_path(values, path, f"get_label '{key}'")

    def _get_sys(self, args: Any, scope: Scope, depth: int) -> Any:
        if not isinstance(args, list) or len(args) != 2:
            raise FunctionEvaluationError("get_sys: expects [entity, property]")
        try:
            return self._store("get_sys").get_sys(args[0], args[1])
        except KeyError:
            raise FunctionEvaluationError(f"get_sys: unknown {args[0]} {args[1]}") from None

    def _get_consumers(self, args: Any, scope: Scope, depth: int) -> Any:
        try:
            return self._store("get_consumers").get_consumers(args)
        except KeyError:
            raise FunctionEvaluationError(f"get_consumers: unknown property {args!r}") from None


_HANDLERS = {name: getattr(Evaluator, f"_{name}") for name in ALL_FUNCTIONS}


def evaluate_functions(
    payload: Any, context: dict[str, Any] | None, storage: FunctionStorage
) -> Any:
    """Runtime evaluation of everything in `payload` (REST `POST /evaluate/functions`).

    `context` names the node instances SELF, SOURCE and TARGET stand for:
    `{"self": id}` or `{"source": id, "target": id}`.
    """
    context = context or {}

    def node_of(instance_id: str | None) -> str | None:
        if instance_id is None:
            return None
        return get_instance(storage, instance_id)["node_id"]

    scope = Scope(
        kind="relationship" if context.get("source") else "node",
        self_node=node_of(context.get("self")),
        source_node=node_of(context.get("source")),
        target_node=node_of(context.get("target")),
        self_instance=context.get("self"),
        source_instance=context.get("source"),
        target_instance=context.get("target"),
    )
    return Evaluator(storage=storage, runtime=True).evaluate(payload, scope)


def evaluate_outputs(outputs: dict[str, Any], storage: FunctionStorage) -> dict[str, Any]:
    """Output (or capability) values; a failing function becomes "<ERROR: ...>" instead."""
    evaluator = Evaluator(storage=storage, runtime=True)
    scope = Scope(kind="output", where="in outputs")
    result = {}
    for name, definition in outputs.items():
        value = definition.get("value") if isinstance(definition, dict) else definition
        try:
            result[name] = evaluator.evaluate(value, scope)
        except (
            FunctionEvaluationError,
            UnknownSecretError,
            SecretNotPermittedError,
            UnsupportedGetSecretError,
        ) as exc:
            result[name] = f"<ERROR: {exc}>"
    return result
