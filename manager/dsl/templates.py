"""Node templates (§10): properties, interfaces, relationships, scalability, hosts, plugins."""

from __future__ import annotations

from typing import Any

from .datatypes import TypeChecker, constraint_messages
from .functions import function_of
from .issues import Issues, Pos
from .loader import YDict, YList, plain, pos_of, report_unknown_keys
from .merge import Merged
from .node_types import ResolvedType
from .operations import (
    OpContext,
    build_operations,
    merge_template_interfaces,
    normalize_interfaces,
)
from .plugins import plugins_of_operations

TEMPLATE_KEYS = frozenset(
    {"type", "instances", "capabilities", "interfaces", "relationships", "properties"}
)
RELATIONSHIP_KEYS = frozenset(
    {"type", "target", "properties", "source_interfaces", "target_interfaces"}
)
CONTAINED_IN = "cloudify.relationships.contained_in"
LIFECYCLE_DEP = "cloudify.relationships.depends_on_lifecycle_operation"
COMPUTE = "cloudify.nodes.Compute"
LIFECYCLE = "cloudify.interfaces.lifecycle"
SCALABLE_KEYS = ("default_instances", "min_instances", "max_instances")
UNBOUNDED = -1


def merge_properties(
    schema: dict[str, dict[str, Any]],
    values: Any,
    checker: TypeChecker,
    owner: str,
    issues: Issues,
    at: Pos,
    *,
    what: str = "node",
) -> dict:
    """Template values over the type schema: defaults filled, unknown and missing reported."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        issues.add("invalid_properties", f"properties of {owner} must be a dict", at)
        return {}
    for key in values:
        if key not in schema:
            noun = "type" if what == "node" else "relationship type"
            issues.add(
                "unknown_property",
                f"'{owner}' {what} '{key}' property is not part of the derived {noun} "
                "properties schema",
                values.key_pos(key) if isinstance(values, YDict) else at,
            )
    out: dict[str, Any] = {}
    for name, prop in schema.items():
        ptype = prop.get("type")
        if name in values:
            out[name] = plain(
                checker.check(
                    values[name],
                    ptype,
                    f"'{owner}' property '{name}'",
                    pos_of(values, name, at),
                    prop.get("item_type"),
                    prop.get("default"),
                )
            )
            for message in constraint_messages(out[name], prop, name):
                issues.add(
                    "property_constraint_violated",
                    f"Property '{name}' of {what} '{owner}' is invalid: {message}",
                    pos_of(values, name, at),
                )
        elif "default" in prop:
            out[name] = plain(
                checker.check(
                    prop["default"],
                    ptype,
                    f"'{owner}' property '{name}'",
                    at,
                    prop.get("item_type"),
                )
            )
        elif prop.get("required", True):
            noun = "relationship type" if what != "node" else "type"
            issues.add(
                "missing_property",
                f"'{owner}' {what} does not provide a value for mandatory '{name}' "
                f"property which is part of its {noun} schema",
                at,
            )
    return out


def _scalable(raw: dict[str, Any], name: str, issues: Issues, at: Pos, gate: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"default_instances": 1, "min_instances": 0, "max_instances": UNBOUNDED}
    instances = raw.get("instances")
    caps = raw.get("capabilities")
    if instances is not None:
        if not isinstance(instances, dict) or set(instances) - {"deploy"}:
            issues.add(
                "invalid_instances",
                f"Node '{name}' 'instances' must be {{deploy: int}}",
                pos_of(raw, "instances", at),
            )
        else:
            deploy = instances.get("deploy")
            if not isinstance(deploy, int) or isinstance(deploy, bool) or deploy < 0:
                issues.add(
                    "invalid_instances",
                    f"Node '{name}': deploy instances must be a non-negative number",
                    pos_of(instances, "deploy", at),
                )
            else:
                props["default_instances"] = deploy
        if caps is not None:
            issues.add(
                "instances_and_capabilities",
                f"Node '{name}' defines both instances.deploy and capabilities.scalable "
                "(Note: instances.deploy is deprecated)",
                pos_of(raw, "capabilities", at),
            )
    if caps is not None:
        cat = pos_of(raw, "capabilities", at)
        gate.require((1, 3), "node template capabilities", cat)
        if not isinstance(caps, dict) or set(caps) - {"scalable"}:
            issues.add(
                "invalid_capabilities",
                f"Node '{name}' capabilities may only declare 'scalable'",
                cat,
            )
            return props
        scalable = caps.get("scalable") or {}
        if not isinstance(scalable, dict) or set(scalable) - {"properties"}:
            issues.add(
                "invalid_capabilities",
                f"Node '{name}' capabilities.scalable may only declare 'properties'",
                cat,
            )
            return props
        given = scalable.get("properties") or {}
        if not isinstance(given, dict):
            issues.add(
                "invalid_capabilities", f"Node '{name}' scalable properties must be a dict", cat
            )
            return props
        props.update(read_scalable(given, f"node '{name}' scalable", issues, cat))
    check_scalable(props, f"Node '{name}'", issues, at)
    return props


def read_scalable(given: dict[str, Any], owner: str, issues: Issues, at: Pos) -> dict[str, Any]:
    """The valid scaling properties in `given` (a node's capabilities.scalable or a scaling
    policy's properties): each a non-negative integer or a function, `max_instances` also -1
    or "UNBOUNDED" (made -1). Unknown keys and other values are reported.

    `owner` names the mapping in lower case ("node 'web' scalable", "policy 'grow'"); the
    message about a bad value starts with it capitalised.
    """
    label = owner[:1].upper() + owner[1:]
    valid: dict[str, Any] = {}
    for key, value in given.items():
        kat = pos_of(given, key, at)
        if key not in SCALABLE_KEYS:
            issues.add("unknown_key", f"'{key}' is not in schema ({owner} properties)", kat)
            continue
        if key == "max_instances" and value == "UNBOUNDED":
            value = UNBOUNDED
        if function_of(value) is None and (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < (-1 if key == "max_instances" else 0)
        ):
            issues.add(
                "invalid_scalable",
                f"{label} property '{key}' must be a non-negative integer, got {plain(value)!r}",
                kat,
            )
            continue
        valid[key] = plain(value)
    return valid


def check_scalable(props: dict[str, Any], owner: str, issues: Issues, at: Pos) -> None:
    """min ≤ default ≤ max between the values that are literals (max -1 is unbounded); a
    function's value is never range-checked, not even at deployment (as in cloudify)."""
    default, minimum, maximum = (
        props.get("default_instances"),
        props.get("min_instances"),
        props.get("max_instances"),
    )
    default = default if isinstance(default, int) else None
    minimum = minimum if isinstance(minimum, int) else None
    maximum = maximum if isinstance(maximum, int) else None
    if default is not None and minimum is not None and default < minimum:
        issues.add(
            "invalid_scalable",
            f"{owner}: default_instances ({default}) cannot be less than min_instances ({minimum})",
            at,
        )
    if maximum is None or maximum == UNBOUNDED:
        return
    if default is not None and default > maximum:
        issues.add(
            "invalid_scalable",
            f"{owner}: default_instances ({default}) cannot be "
            f"greater than max_instances ({maximum})",
            at,
        )
    if minimum is not None and minimum > maximum:
        issues.add(
            "invalid_scalable",
            f"{owner}: min_instances ({minimum}) cannot be greater than max_instances ({maximum})",
            at,
        )


class NodeBuilder:
    """Builds the plan nodes from the merged node_templates section."""

    def __init__(
        self,
        merged: Merged,
        node_types: dict[str, ResolvedType],
        rel_types: dict[str, ResolvedType],
        checker: TypeChecker,
        ctx: OpContext,
        gate: Any,
        issues: Issues,
    ) -> None:
        self.merged = merged
        self.node_types = node_types
        self.rel_types = rel_types
        self.checker = checker
        self.ctx = ctx
        self.gate = gate
        self.issues = issues
        self.templates = merged.dict_section("node_templates")
        self.raw_rels: dict[str, list[tuple[dict, Pos]]] = {}

    def build(self) -> list[dict[str, Any]]:
        nodes = {}
        for name, raw in self.templates.items():
            node = self._node(name, raw)
            if node is not None:
                nodes[name] = node
        for name, node in nodes.items():
            self._relationships(name, node, nodes)
        self._hosts(nodes)
        self._cycles(nodes)
        self._plugins(nodes)
        return list(nodes.values())

    def _node(self, name: str, raw: Any) -> dict[str, Any] | None:
        at = self.merged.pos("node_templates", name)
        issues = self.issues
        if not isinstance(raw, dict):
            issues.add("invalid_definition", f"Node template '{name}' must be a dict", at)
            return None
        report_unknown_keys(raw, TEMPLATE_KEYS, f"node template '{name}'", issues, at)
        type_name = raw.get("type")
        if type_name is None:
            issues.add("missing_node_type", f"Node template '{name}' does not declare a 'type'", at)
            return None
        if not isinstance(type_name, str):
            issues.add(
                "invalid_definition",
                f"'type' of node template '{name}' must be a string",
                pos_of(raw, "type", at),
            )
            return None
        node_type = self.node_types.get(type_name)
        if node_type is None:
            issues.add(
                "unknown_node_type",
                f"Could not locate node type: '{type_name}' (node template '{name}')",
                pos_of(raw, "type", at),
            )
            return None
        props = merge_properties(
            node_type.properties,
            raw.get("properties"),
            self.checker,
            name,
            issues,
            pos_of(raw, "properties", at),
        )
        tpl_ifaces = normalize_interfaces(
            raw.get("interfaces"),
            typed=False,
            owner=f"node '{name}'",
            ctx=self.ctx,
            at=pos_of(raw, "interfaces", at),
        )
        interfaces = merge_template_interfaces(
            node_type.interfaces.get("interfaces", {}),
            tpl_ifaces,
            f"node '{name}'",
            issues,
            at,
            self.ctx.cache,
        )
        operations = build_operations(
            interfaces,
            self.ctx,
            f"in node '{name}' of type '{type_name}'",
            pos_of(raw, "interfaces", at),
        )
        scalable = _scalable(raw, name, issues, at, self.gate)
        rels = raw.get("relationships")
        if rels is not None and not isinstance(rels, list):
            issues.add(
                "invalid_relationships",
                f"relationships of node '{name}' must be a list",
                pos_of(raw, "relationships", at),
            )
            rels = None
        self.raw_rels[name] = [
            (r, rels.item_pos(i) if isinstance(rels, YList) else at)
            for i, r in enumerate(rels or [])
        ]
        scalable_plan = dict(scalable)
        scalable_plan["current_instances"] = scalable["default_instances"]
        scalable_plan["planned_instances"] = scalable["default_instances"]
        return {
            "name": name,
            "id": name,
            "type": type_name,
            "type_hierarchy": list(node_type.hierarchy),
            "properties": props,
            "interfaces": interfaces,
            "operations": operations,
            "relationships": [],
            "capabilities": {"scalable": {"properties": scalable_plan}},
            "instances": {"deploy": scalable["default_instances"]},
        }

    def _relationships(self, name: str, node: dict[str, Any], nodes: dict[str, Any]) -> None:
        issues = self.issues
        contained: list[tuple[str, str]] = []
        for raw, at in self.raw_rels.get(name, []):
            if not isinstance(raw, dict):
                issues.add(
                    "invalid_relationship", f"A relationship of node '{name}' must be a dict", at
                )
                continue
            report_unknown_keys(
                raw, RELATIONSHIP_KEYS, f"relationship of node '{name}'", issues, at
            )
            rtype = raw.get("type")
            target = raw.get("target")
            if not isinstance(rtype, str | None) or not isinstance(target, str | None):
                issues.add(
                    "invalid_relationship",
                    f"'type' and 'target' of a relationship of node '{name}' must be strings",
                    at,
                )
                continue
            if rtype is None:
                issues.add(
                    "missing_relationship_type",
                    f"A relationship instance under node '{name}' does not declare a 'type'",
                    at,
                )
                continue
            rel_type = self.rel_types.get(rtype)
            if rel_type is None:
                issues.add(
                    "unknown_relationship_type",
                    f"A relationship instance under node '{name}' declares an undefined "
                    f"relationship type '{rtype}'",
                    pos_of(raw, "type", at),
                )
                continue
            if target is None:
                issues.add(
                    "missing_relationship_target",
                    f"A relationship instance under node '{name}' of type '{rtype}' "
                    "does not declare a 'target'",
                    at,
                )
                continue
            if target not in self.templates:
                issues.add(
                    "unknown_relationship_target",
                    f"A relationship instance under node '{name}' of type '{rtype}' "
                    f"declares an undefined target node '{target}'",
                    pos_of(raw, "target", at),
                )
                continue
            if target == name:
                issues.add(
                    "self_relationship",
                    f"A relationship instance under node '{name}' of type '{rtype}' "
                    "illegally declares the source node as the target node",
                    pos_of(raw, "target", at),
                )
                continue
            # a type not derived from depends_on is refused at deployment (topology.py)
            if CONTAINED_IN in rel_type.hierarchy:
                contained.append((rtype, target))
            props = merge_properties(
                rel_type.properties,
                raw.get("properties"),
                self.checker,
                name,
                issues,
                pos_of(raw, "properties", at),
                what="node relationship",
            )
            conn = props.get("connection_type")
            if (
                conn is not None
                and conn not in ("all_to_all", "all_to_one")
                and function_of(conn) is None
            ):
                issues.add(
                    "invalid_connection_type",
                    f"Relationship of node '{name}' to '{target}' has an illegal "
                    f"connection_type '{conn}' (all_to_all or all_to_one)",
                    at,
                )
            if LIFECYCLE_DEP in rel_type.hierarchy:
                self._lifecycle_dependency(name, target, props, at)
            rel = {
                "type": rtype,
                "target_id": target,
                "type_hierarchy": list(rel_type.hierarchy),
                "properties": props,
            }
            target_node = nodes.get(target)
            for side in ("source", "target"):
                key = f"{side}_interfaces"
                tpl = normalize_interfaces(
                    raw.get(key),
                    typed=False,
                    owner=f"relationship of node '{name}'",
                    ctx=self.ctx,
                    at=pos_of(raw, key, at),
                )
                ifaces = merge_template_interfaces(
                    rel_type.interfaces.get(key, {}),
                    tpl,
                    f"relationship '{rtype}' of node '{name}'",
                    issues,
                    at,
                    self.ctx.cache,
                )
                rel[key] = ifaces
                owner_id = name if side == "source" or target_node is None else target
                rel[f"{side}_operations"] = build_operations(
                    ifaces, self.ctx, f"in relationship of type '{rtype}' in node '{owner_id}'", at
                )
            node["relationships"].append(rel)
        if len(contained) > 1:
            issues.add(
                "multiple_contained_in",
                f"Node '{name}' has more than one relationship that is derived from "
                f"'{CONTAINED_IN}' relationship. Found: {[t for t, _ in contained]} for "
                f"targets: {[g for _, g in contained]}",
                self.merged.pos("node_templates", name),
            )

    def _lifecycle_dependency(self, name: str, target: str, props: dict, at: Pos) -> None:
        operation = props.get("operation")
        if operation is None or function_of(operation) is not None:
            return  # a missing value is reported by the property schema
        if not isinstance(operation, str) or not operation:
            self.issues.add(
                "lifecycle_operation_missing",
                f"Relationship '{LIFECYCLE_DEP}' of node '{name}' must set the "
                "'operation' property to a lifecycle operation",
                at,
            )
            return
        short = operation.rsplit(".", 1)[-1]
        target_raw = self.templates.get(target)
        declared: dict[str, Any] = {}
        if isinstance(target_raw, dict) and isinstance(target_raw.get("interfaces"), dict):
            declared = target_raw["interfaces"].get(LIFECYCLE) or {}
        if short not in declared:
            self.issues.add(
                "lifecycle_operation_not_declared",
                f"Relationship '{LIFECYCLE_DEP}' of node '{name}' refers to "
                f"operation '{operation}' which target node '{target}' does not "
                f"declare in its '{LIFECYCLE}' interface",
                at,
            )

    def _hosts(self, nodes: dict[str, dict[str, Any]]) -> None:
        containers = {name: container_of(node) for name, node in nodes.items()}
        for name, node in nodes.items():
            seen = set()
            current: str | None = name
            while current is not None and current not in seen:
                seen.add(current)
                candidate = nodes.get(current)
                if candidate is None:
                    break
                if COMPUTE in candidate["type_hierarchy"]:
                    node["host_id"] = current
                    break
                current = containers.get(current)

    def _cycles(self, nodes: dict[str, dict[str, Any]]) -> None:
        state: dict[str, int] = {}
        for start in nodes:
            if state.get(start):
                continue
            stack = [(start, iter([r["target_id"] for r in nodes[start]["relationships"]]))]
            state[start] = 1
            path = [start]
            while stack:
                current, targets = stack[-1]
                nxt = next(targets, None)
                if nxt is None:
                    state[current] = 2
                    stack.pop()
                    path.pop()
                    continue
                if nxt not in nodes:
                    continue
                if state.get(nxt) == 1:
                    cycle = path[path.index(nxt) :] + [nxt]
                    self.issues.add(
                        "circular_dependency",
                        "Circular dependency detected: " + " -> ".join(cycle),
                        self.merged.pos("node_templates", nxt),
                    )
                    state[current] = 2
                    return
                if not state.get(nxt):
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter([r["target_id"] for r in nodes[nxt]["relationships"]])))

    def _plugins(self, nodes: dict[str, dict[str, Any]]) -> None:
        plugins = self.ctx.plugins
        op_sets: dict[str, list[dict]] = {
            name: [node["operations"]] for name, node in nodes.items()
        }
        for name, node in nodes.items():
            for rel in node["relationships"]:
                op_sets[name].append(rel["source_operations"])
                if rel["target_id"] in op_sets:
                    op_sets[rel["target_id"]].append(rel["target_operations"])
        for name, node in nodes.items():
            node["plugins"] = plugins_of_operations(op_sets[name], plugins)
        hosted: dict[str, dict[str, dict]] = {}
        for name, node in nodes.items():
            host = node.get("host_id")
            for plugin in node["plugins"]:
                if plugin["executor"] != "host_agent":
                    continue
                if host is None:
                    self.issues.add(
                        "host_agent_without_host",
                        f"node '{name}' has no relationship which makes it contained within a "
                        f"host and it has a plugin '{plugin['name']}' with 'host_agent' as an "
                        "executor. These types of plugins must be installed on a host",
                        self.merged.pos("node_templates", name),
                    )
                else:
                    hosted.setdefault(host, {})[plugin["name"]] = plugin
        for name, node in nodes.items():
            if node.get("host_id") == name:
                node["plugins_to_install"] = list(hosted.get(name, {}).values())
            node["deployment_plugins_to_install"] = list(
                {
                    p["name"]: p
                    for p in node["plugins"]
                    if p["executor"] == "central_deployment_agent"
                }.values()
            )


def container_of(node: dict[str, Any]) -> str | None:
    for rel in node["relationships"]:
        if CONTAINED_IN in rel["type_hierarchy"]:
            return rel["target_id"]
    return None
