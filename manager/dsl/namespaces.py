"""Namespaced imports (`ns--file.yaml`): prefixing declared names and rewriting references."""

from __future__ import annotations

from typing import Any

from .loader import YDict, YList

SEP = "--"

# Sections whose keys are names that a namespace prefixes.
NAMED_SECTIONS = (
    "node_types",
    "data_types",
    "relationships",
    "plugins",
    "workflows",
    "policy_types",
    "policy_triggers",
    "groups",
    "inputs",
    "outputs",
    "node_templates",
    "capabilities",
    "policies",
)
# The input types that name an object of the manager (DSL 1_4 on).
OBJECT_TYPES = frozenset(
    {
        "blueprint_id",
        "deployment_id",
        "capability_value",
        "scaling_group",
        "node_id",
        "node_type",
        "node_instance",
        "secret_key",
    }
)
PRIMITIVES = OBJECT_TYPES | {
    "string",
    "integer",
    "float",
    "boolean",
    "list",
    "dict",
    "regex",
    "textarea",
    "operation_name",
}
_NODE_REF_FUNCTIONS = (
    "get_property",
    "get_attribute",
    "get_attributes_list",
    "get_attributes_dict",
)
_SPECIAL_REFS = frozenset({"SELF", "SOURCE", "TARGET"})


def split_namespace(url: str) -> tuple[str | None, str]:
    """`ns--rest` → (ns, rest); a namespace holds no `/` or `:` so URLs are left alone."""
    idx = url.find(SEP)
    if idx <= 0:
        return None, url
    ns = url[:idx]
    if "/" in ns or ":" in ns:
        return None, url
    return ns, url[idx + len(SEP) :]


def prefixed(ns: str, name: Any) -> Any:
    return f"{ns}{SEP}{name}" if isinstance(name, str) else name


def _copy(d: YDict) -> YDict:
    new = YDict(d)
    new.file, new.marks, new.line, new.column = d.file, d.marks, d.line, d.column
    return new


def _copy_list(values: YList, items: list[Any]) -> YList:
    new = YList(items)
    new.file, new.marks = values.file, values.marks
    new.line, new.column = values.line, values.column
    return new


class Rewriter:
    """Rewrites one namespaced file; a reference `r` becomes `ns--r` only when `ns--r` is a
    name declared somewhere in the import set, so basic types and names from
    un-namespaced imports stay as they are."""

    def __init__(self, ns: str, declared: dict[str, set[str]], is_blueprint: bool) -> None:
        self.ns = ns
        self.declared = declared
        self.is_blueprint = is_blueprint

    def ref(self, section: str, name: Any) -> Any:
        if not isinstance(name, str):
            return name
        candidate = f"{self.ns}{SEP}{name}"
        return candidate if candidate in self.declared.get(section, ()) else name

    def type_ref(self, name: Any) -> Any:
        if isinstance(name, str) and name in PRIMITIVES:
            return name
        return self.ref("data_types", name)

    def implementation(self, impl: Any) -> Any:
        if not isinstance(impl, str) or not impl:
            return impl
        plugin = impl.split(".", 1)[0]
        if f"{self.ns}{SEP}{plugin}" in self.declared.get("plugins", ()):
            return f"{self.ns}{SEP}{impl}"
        if self.is_blueprint and "://" not in impl and "\n" not in impl:
            return f"{self.ns}{SEP}{impl}"  # a script inside the imported blueprint
        return impl

    def values(self, value: Any) -> Any:
        """Rewrites references inside intrinsic functions found anywhere in `value`."""
        if isinstance(value, dict):
            if len(value) in (1, 2) and any(k in _FUNCTION_REWRITES for k in value):
                for key in value:
                    if key in _FUNCTION_REWRITES:
                        new = _copy(value) if isinstance(value, YDict) else dict(value)
                        new[key] = _FUNCTION_REWRITES[key](self, self.values(value[key]))
                        return new
            new_d = _copy(value) if isinstance(value, YDict) else dict(value)
            for k, v in value.items():
                new_d[k] = self.values(v)
            return new_d
        if isinstance(value, list):
            items = [self.values(v) for v in value]
            return _copy_list(value, items) if isinstance(value, YList) else items
        return value

    def _get_input(self, args: Any) -> Any:
        if isinstance(args, str):
            return self.ref("inputs", args)
        if isinstance(args, list) and args and isinstance(args[0], str):
            return _replace_first(args, self.ref("inputs", args[0]))
        return args

    def _node_ref(self, args: Any) -> Any:
        if isinstance(args, list) and args and isinstance(args[0], str):
            if args[0] in _SPECIAL_REFS:
                return args
            return _replace_first(args, self.ref("node_templates", args[0]))
        return args

    # ----- sections -------------------------------------------------------------------

    def file(self, doc: YDict) -> YDict:
        out = _copy(doc)
        for section, handler in _SECTION_HANDLERS.items():
            body = doc.get(section)
            if not isinstance(body, dict):
                continue
            new = YDict()
            if isinstance(body, YDict):
                new.file, new.line, new.column = body.file, body.line, body.column
            for name, element in body.items():
                new_name = prefixed(self.ns, name) if section in NAMED_SECTIONS else name
                new[new_name] = handler(self, element)
                if isinstance(body, YDict) and name in body.marks:
                    new.marks[new_name] = body.marks[name]
            out[section] = new
        return out

    def _type_like(self, element: Any, section: str) -> Any:
        if not isinstance(element, dict):
            return element
        new = _copy(element) if isinstance(element, YDict) else dict(element)
        if "derived_from" in element:
            new["derived_from"] = self.ref(section, element["derived_from"])
        if isinstance(element.get("properties"), dict):
            new["properties"] = self._schema(element["properties"])
        for key in ("interfaces", "source_interfaces", "target_interfaces"):
            if isinstance(element.get(key), dict):
                new[key] = self._interfaces(element[key], typed=True)
        return new

    def _schema(self, schema: dict) -> Any:
        new = _copy(schema) if isinstance(schema, YDict) else dict(schema)
        for name, prop in schema.items():
            if isinstance(prop, dict):
                p = _copy(prop) if isinstance(prop, YDict) else dict(prop)
                if "type" in prop:
                    p["type"] = self.type_ref(prop["type"])
                if "item_type" in prop:
                    p["item_type"] = self.type_ref(prop["item_type"])
                if "default" in prop:
                    p["default"] = self.values(prop["default"])
                new[name] = p
        return new

    def _interfaces(self, interfaces: dict, typed: bool) -> Any:
        new = _copy(interfaces) if isinstance(interfaces, YDict) else dict(interfaces)
        for iname, ops in interfaces.items():
            if not isinstance(ops, dict):
                continue
            new_ops = _copy(ops) if isinstance(ops, YDict) else dict(ops)
            for oname, op in ops.items():
                if isinstance(op, str):
                    new_ops[oname] = self.implementation(op)
                elif isinstance(op, dict):
                    o = _copy(op) if isinstance(op, YDict) else dict(op)
                    if "implementation" in op:
                        o["implementation"] = self.implementation(op["implementation"])
                    if isinstance(op.get("inputs"), dict):
                        o["inputs"] = (
                            self._schema(op["inputs"]) if typed else self.values(op["inputs"])
                        )
                    new_ops[oname] = o
            new[iname] = new_ops
        return new

    def _node_template(self, element: Any) -> Any:
        if not isinstance(element, dict):
            return element
        new = _copy(element) if isinstance(element, YDict) else dict(element)
        if "type" in element:
            new["type"] = self.ref("node_types", element["type"])
        if "properties" in element:
            new["properties"] = self.values(element["properties"])
        if isinstance(element.get("interfaces"), dict):
            new["interfaces"] = self._interfaces(element["interfaces"], typed=False)
        if isinstance(element.get("capabilities"), dict):
            new["capabilities"] = self.values(element["capabilities"])
        rels = element.get("relationships")
        if isinstance(rels, list):
            items = []
            for rel in rels:
                if isinstance(rel, dict):
                    r = _copy(rel) if isinstance(rel, YDict) else dict(rel)
                    if "type" in rel:
                        r["type"] = self.ref("relationships", rel["type"])
                    if "target" in rel:
                        r["target"] = self.ref("node_templates", rel["target"])
                    if "properties" in rel:
                        r["properties"] = self.values(rel["properties"])
                    for key in ("source_interfaces", "target_interfaces"):
                        if isinstance(rel.get(key), dict):
                            r[key] = self._interfaces(rel[key], typed=False)
                    rel = r
                items.append(rel)
            new["relationships"] = _copy_list(rels, items) if isinstance(rels, YList) else items
        return new

    def _input(self, element: Any) -> Any:
        if not isinstance(element, dict):
            return element
        new = self._schema({"x": element})["x"]
        return new

    def _value_holder(self, element: Any) -> Any:
        return self.values(element)

    def _workflow(self, element: Any) -> Any:
        if isinstance(element, str):
            return self.implementation(element)
        if not isinstance(element, dict):
            return element
        new = _copy(element) if isinstance(element, YDict) else dict(element)
        if "mapping" in element:
            new["mapping"] = self.implementation(element["mapping"])
        if isinstance(element.get("parameters"), dict):
            new["parameters"] = self._schema(element["parameters"])
        return new

    def _group(self, element: Any) -> Any:
        if not isinstance(element, dict):
            return element
        new = _copy(element) if isinstance(element, YDict) else dict(element)
        members = element.get("members")
        if isinstance(members, list):
            items = [
                self.ref("node_templates", m)
                if f"{self.ns}{SEP}{m}" in self.declared.get("node_templates", ())
                else self.ref("groups", m)
                for m in members
            ]
            new["members"] = _copy_list(members, items) if isinstance(members, YList) else items
        policies = element.get("policies")
        if isinstance(policies, dict):
            new_p = _copy(policies) if isinstance(policies, YDict) else dict(policies)
            for pname, policy in policies.items():
                if isinstance(policy, dict):
                    p = _copy(policy) if isinstance(policy, YDict) else dict(policy)
                    if "type" in policy:
                        p["type"] = self.ref("policy_types", policy["type"])
                    triggers = policy.get("triggers")
                    if isinstance(triggers, dict):
                        nt = _copy(triggers) if isinstance(triggers, YDict) else dict(triggers)
                        for tname, trig in triggers.items():
                            if isinstance(trig, dict) and "type" in trig:
                                t = _copy(trig) if isinstance(trig, YDict) else dict(trig)
                                t["type"] = self.ref("policy_triggers", trig["type"])
                                nt[tname] = t
                        p["triggers"] = nt
                    new_p[pname] = p
            new["policies"] = new_p
        return new

    def _policy(self, element: Any) -> Any:
        if not isinstance(element, dict):
            return element
        new = _copy(element) if isinstance(element, YDict) else dict(element)
        targets = element.get("targets")
        if isinstance(targets, list):
            items = [self.ref("groups", t) for t in targets]
            new["targets"] = _copy_list(targets, items) if isinstance(targets, YList) else items
        if "properties" in element:
            new["properties"] = self.values(element["properties"])
        return new

    def _as_is(self, element: Any) -> Any:
        return element


def _replace_first(args: list, first: Any) -> Any:
    items = [first, *args[1:]]
    return _copy_list(args, items) if isinstance(args, YList) else items


_FUNCTION_REWRITES = {
    "get_input": Rewriter._get_input,
    **{name: Rewriter._node_ref for name in _NODE_REF_FUNCTIONS},
}

_SECTION_HANDLERS = {
    "node_types": lambda self, e: self._type_like(e, "node_types"),
    "relationships": lambda self, e: self._type_like(e, "relationships"),
    "data_types": lambda self, e: self._type_like(e, "data_types"),
    "node_templates": Rewriter._node_template,
    "inputs": Rewriter._input,
    "outputs": Rewriter._value_holder,
    "capabilities": Rewriter._value_holder,
    "plugins": Rewriter._as_is,
    "workflows": Rewriter._workflow,
    "groups": Rewriter._group,
    "policies": Rewriter._policy,
    "policy_types": Rewriter._as_is,
    "policy_triggers": Rewriter._as_is,
}
