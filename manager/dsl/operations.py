"""Operations (§11): short and long forms, type/template merging, implementation mapping."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .datatypes import check_schema
from .functions import function_of, has_functions
from .issues import Issues, Pos
from .loader import plain, pos_of, report_unknown_keys
from .versions import Gate

OP_KEYS = frozenset(
    {
        "implementation",
        "inputs",
        "executor",
        "max_retries",
        "retry_interval",
        "timeout",
        "timeout_recoverable",
    }
)
EXECUTORS = ("central_deployment_agent", "host_agent")
SCRIPT_RUN_TASK = "script_runner.tasks.run"
SCRIPT_WORKFLOW_TASK = "script_runner.tasks.execute_workflow"
NOP = ""


@dataclass(frozen=True)
class OpContext:
    """Everything needed to map implementations: plugins and the archive's files."""

    plugins: dict[str, dict[str, Any]]
    resource_exists: Callable[[str], bool]
    blueprint_namespaces: frozenset[str] = frozenset()
    issues: Issues | None = None
    gate: Gate | None = None
    # Per-parse memo: type operations a template leaves alone map the same way for every
    # node of that type (a 1,000-node blueprint would otherwise redo 50,000 mappings).
    cache: dict[Any, Any] = field(default_factory=dict)


def normalize_op(raw: Any, *, typed: bool, owner: str, ctx: OpContext, at: Pos) -> dict[str, Any]:
    """A type or template operation as {implementation, inputs, executor, ...}.

    `explicit` records whether the template gave an implementation, which decides between
    inheriting the type's operation and replacing it.
    """
    issues = ctx.issues
    assert issues is not None
    op: dict[str, Any] = {
        "implementation": NOP,
        "inputs": {},
        "executor": None,
        "max_retries": None,
        "retry_interval": None,
        "timeout": None,
        "timeout_recoverable": None,
        "explicit": False,
        "empty": False,
    }
    if raw is None or raw == {}:
        op["empty"] = True
        op["explicit"] = True
        return op
    if isinstance(raw, str):
        op["implementation"] = raw
        op["explicit"] = True
        return op
    if not isinstance(raw, dict):
        issues.add("invalid_operation", f"Operation {owner} must be a string or a dict", at)
        return op
    report_unknown_keys(raw, OP_KEYS, f"operation {owner}", issues, at)
    impl = raw.get("implementation")
    if "implementation" in raw:
        op["explicit"] = True
        if impl is not None and not isinstance(impl, str):
            issues.add(
                "invalid_operation",
                f"implementation of operation {owner} must be a string",
                pos_of(raw, "implementation", at),
            )
        else:
            op["implementation"] = impl or NOP
    inputs = raw.get("inputs")
    if inputs is not None and not isinstance(inputs, dict):
        issues.add(
            "invalid_operation",
            f"inputs of operation {owner} must be a dict",
            pos_of(raw, "inputs", at),
        )
        inputs = None
    if typed:
        op["inputs"] = check_schema(inputs, f"operation {owner}", issues, at)
    else:
        op["inputs"] = inputs or {}
    executor = raw.get("executor")
    if executor is not None and executor not in EXECUTORS:
        issues.add(
            "invalid_executor",
            f"Operation {owner} has an illegal executor value '{executor}'. valid "
            f"values are [{','.join(EXECUTORS)}]",
            pos_of(raw, "executor", at),
        )
    else:
        op["executor"] = executor
    retries = raw.get("max_retries")
    if retries is not None:
        if ctx.gate is not None:
            ctx.gate.require((1, 1), "operation max_retries", pos_of(raw, "max_retries", at))
        if (
            function_of(retries) is not None
            or not isinstance(retries, int)
            or isinstance(retries, bool)
            or retries < -1
        ):
            issues.add(
                "invalid_max_retries",
                f"'max_retries' of operation {owner} must be -1 (unlimited) or a "
                f"non negative integer literal, got {plain(retries)!r}",
                pos_of(raw, "max_retries", at),
            )
        else:
            op["max_retries"] = retries
    for key, kind in (("retry_interval", "retry_interval"), ("timeout", "timeout")):
        value = raw.get(key)
        if value is None:
            continue
        if kind == "retry_interval" and ctx.gate is not None:
            ctx.gate.require((1, 1), "operation retry_interval", pos_of(raw, key, at))
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            issues.add(
                f"invalid_{key}",
                f"'{key}' of operation {owner} must be a non negative number, got {plain(value)!r}",
                pos_of(raw, key, at),
            )
        else:
            op[key] = value
    recoverable = raw.get("timeout_recoverable")
    if recoverable is not None:
        if not isinstance(recoverable, bool):
            issues.add(
                "invalid_timeout_recoverable",
                f"'timeout_recoverable' of operation {owner} must be a boolean",
                pos_of(raw, "timeout_recoverable", at),
            )
        else:
            op["timeout_recoverable"] = recoverable
    return op


def normalize_interfaces(
    raw: Any, *, typed: bool, owner: str, ctx: OpContext, at: Pos
) -> dict[str, dict[str, dict[str, Any]]]:
    issues = ctx.issues
    assert issues is not None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        issues.add("invalid_interfaces", f"interfaces of {owner} must be a dict", at)
        return {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for iname, ops in raw.items():
        iat = pos_of(raw, iname, at)
        if ops is None:
            ops = {}
        if not isinstance(ops, dict):
            issues.add("invalid_interfaces", f"interface '{iname}' of {owner} must be a dict", iat)
            continue
        out[iname] = {
            oname: normalize_op(
                op,
                typed=typed,
                owner=f"'{iname}.{oname}' of {owner}",
                ctx=ctx,
                at=pos_of(ops, oname, iat),
            )
            for oname, op in ops.items()
        }
    return out


def merge_type_interfaces(
    parent: dict[str, dict[str, Any]], child: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """A derived operation replaces the parent's wholesale; new ones are added."""
    out = {iname: dict(ops) for iname, ops in parent.items()}
    for iname, ops in child.items():
        out.setdefault(iname, {}).update(ops)
    return out


def schema_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    if not schema:
        return {}
    return {
        name: d["default"] for name, d in schema.items() if isinstance(d, dict) and "default" in d
    }


def merge_template_interfaces(
    type_ifaces: dict[str, dict[str, Any]],
    tpl_ifaces: dict[str, dict[str, Any]],
    owner: str,
    issues: Issues,
    at: Pos,
    cache: dict[Any, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Merges template operations over type operations (§11.3); inputs become values.

    Mappings of untouched type operations come from `cache` and are shared between nodes.
    """
    out: dict[str, dict[str, Any]] = {}
    for iname in dict.fromkeys([*type_ifaces, *tpl_ifaces]):
        type_ops = type_ifaces.get(iname, {})
        tpl_ops = tpl_ifaces.get(iname, {})
        merged_ops: dict[str, Any] = {}
        for oname in dict.fromkeys([*type_ops, *tpl_ops]):
            tpl_op = tpl_ops.get(oname)
            type_op = type_ops.get(oname)
            if tpl_op is None and cache is not None and type_op is not None:
                key = ("mapping", id(type_op))
                mapping = cache.get(key)
                if mapping is None:
                    mapping = cache[key] = _merge_op(
                        type_op, None, f"'{iname}.{oname}' of {owner}", issues, at
                    )
                    cache[("shared", id(mapping))] = True
                merged_ops[oname] = mapping
                continue
            merged_ops[oname] = _merge_op(
                type_op, tpl_op, f"'{iname}.{oname}' of {owner}", issues, at
            )
        out[iname] = merged_ops
    return out


def _mapping(op: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "implementation": op["implementation"],
        "inputs": plain(inputs) if inputs else {},
        "executor": op["executor"],
        "max_retries": op["max_retries"],
        "retry_interval": op["retry_interval"],
        "timeout": op["timeout"],
        "timeout_recoverable": op["timeout_recoverable"],
    }


def _merge_op(
    type_op: dict[str, Any] | None,
    tpl_op: dict[str, Any] | None,
    owner: str,
    issues: Issues,
    at: Pos,
) -> dict[str, Any]:
    if type_op is not None and tpl_op is not None:
        if tpl_op["empty"] or (
            tpl_op["explicit"] and tpl_op["implementation"] != type_op["implementation"]
        ):
            return _mapping(tpl_op, dict(tpl_op["inputs"]))
    elif tpl_op is not None:
        return _mapping(tpl_op, dict(tpl_op["inputs"]))
    assert type_op is not None
    inputs = schema_defaults(type_op["inputs"])
    if tpl_op is not None:
        inputs.update(tpl_op["inputs"])
    # An input the type declares without a default needs a value even when the template
    # leaves the operation untouched (Cloudify refuses the blueprint in both cases).
    missing = [n for n in type_op["inputs"] if n not in inputs]
    if missing:
        if len(missing) == 1:
            message = f"Input '{missing[0]}' is missing a value (operation {owner})"
        else:
            names = ", ".join(f"'{n}'" for n in missing)
            message = f"Inputs {names} are missing a value (operation {owner})"
        issues.add("missing_operation_input", message, at)
    merged = _mapping(type_op, inputs)
    if tpl_op is None:
        return merged
    for key in ("executor", "max_retries", "retry_interval", "timeout", "timeout_recoverable"):
        if tpl_op[key] is not None:
            merged[key] = tpl_op[key]
    return merged


def _script_plugin(plugins: dict[str, Any]) -> str | None:
    if "script" in plugins:
        return "script"
    for name in plugins:
        if name.endswith("script"):
            return name
    return None


def is_script(impl: str, ctx: OpContext) -> bool:
    if "://" in impl or "\n" in impl:
        return True
    ns, sep, rest = impl.partition("--")
    if sep and ns in ctx.blueprint_namespaces:
        return True
    return ctx.resource_exists(impl)


def build_operation(
    name: str,
    mapping: dict[str, Any],
    ctx: OpContext,
    owner: str,
    at: Pos,
    *,
    workflow: bool = False,
) -> dict[str, Any] | None:
    """The plan's operation struct for one merged operation (None when it cannot map)."""
    issues = ctx.issues
    assert issues is not None
    impl = mapping["implementation"]
    inputs = dict(mapping["inputs"])
    op = {
        "implementation": impl,
        "plugin": "",
        "operation": "",
        "executor": None,
        "inputs": inputs,
        "has_intrinsic_functions": False,
        "max_retries": mapping["max_retries"],
        "retry_interval": mapping["retry_interval"],
        "timeout": mapping["timeout"],
        "timeout_recoverable": mapping["timeout_recoverable"],
    }
    if not impl:
        op["inputs"] = {}
        return op
    kind = "workflow" if workflow else "operation"
    if is_script(impl, ctx):
        plugin = _script_plugin(ctx.plugins)
        if plugin is None:
            issues.add(
                "script_plugin_missing",
                f"Script plugin is not defined but it is required for mapping '{impl}' "
                f"of {kind} '{name}'",
                at,
            )
            return None
        key = "script_source" if "\n" in impl else "script_path"
        if "script_path" in inputs or "script_source" in inputs:
            issues.add(
                "script_path_declared",
                f"Cannot define '{key}' property in '{impl}' for {kind} '{name}'",
                at,
            )
            return None
        inputs[key] = impl
        op["plugin"] = plugin
        op["operation"] = SCRIPT_WORKFLOW_TASK if workflow else SCRIPT_RUN_TASK
        op["executor"] = mapping["executor"] or "auto"
    else:
        candidates = [p for p in ctx.plugins if impl.startswith(f"{p}.")]
        if len(candidates) > 1:
            issues.add(
                "ambiguous_operation_mapping",
                f"Ambiguous operation mapping. [operation={name}, plugins={sorted(candidates)}]",
                at,
            )
            return None
        if not candidates:
            issues.add(
                "operation_mapping_unresolved",
                f"Could not extract plugin or a script resource is not found from "
                f"{kind} mapping '{impl}', which is declared for {kind} '{name}' "
                f"{owner}",
                at,
            )
            return None
        plugin = candidates[0]
        op["plugin"] = plugin
        op["operation"] = impl[len(plugin) + 1 :]
        op["executor"] = mapping["executor"] or ctx.plugins[plugin].get("executor")
    op["has_intrinsic_functions"] = has_functions(inputs)
    return op


def build_operations(
    interfaces: dict[str, dict[str, Any]], ctx: OpContext, owner: str, at: Pos
) -> dict[str, dict[str, Any]]:
    """`operations` keyed by `interface.op`, plus `op` alone when unique across interfaces,
    in cloudify's order (each short name just before its first full name)."""
    result: dict[str, dict[str, Any] | None] = {}
    ambiguous = False
    cache = ctx.cache
    for iname, ops in interfaces.items():
        for oname, mapping in ops.items():
            key = ("op", id(mapping), oname)
            cached = cache.get(key)
            op: dict[str, Any]
            if cached is not None and cached[0] is mapping:
                op = dict(cached[1])
            else:
                built = build_operation(oname, mapping, ctx, f"in interface '{iname}' {owner}", at)
                if built is None:
                    continue
                op = built
                if ("shared", id(mapping)) in cache:  # only shared mappings recur
                    cache[key] = (mapping, op)
                    op = dict(op)
            if oname in result:
                result[oname] = None  # a short name shared by two interfaces means neither
                ambiguous = True
            else:
                result[oname] = op
            result[f"{iname}.{oname}"] = op
    if ambiguous:
        return {name: op for name, op in result.items() if op is not None}
    return result  # type: ignore[return-value]


def local_resource_checker(root: str | None, namespaces: frozenset[str]) -> Callable[[str], bool]:
    """Whether an implementation names a file in the archive (namespace prefix stripped)."""
    cache: dict[str, bool] = {}
    real_root = os.path.realpath(root) if root else None

    def exists(path: str) -> bool:
        if real_root is None:
            return False
        hit = cache.get(path)
        if hit is not None:
            return hit
        candidate = path
        ns, sep, rest = path.partition("--")
        if sep and ns in namespaces:
            candidate = rest
        full = os.path.realpath(os.path.join(real_root, candidate.lstrip("/")))
        ok = full.startswith(real_root + os.sep) and os.path.isfile(full)
        cache[path] = ok
        return ok

    return exists
