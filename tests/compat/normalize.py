"""Comparable views of a deployment plan: stable instance names, the aspects compared, diffs.

Both implementations' plans go through the same functions (after a JSON round trip), so a
difference left after normalisation is a difference of the plans.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

# Keys Quarterdeck adds on purpose (manager/dsl/README.md): absent from cloudify's plan.
_OUR_OPERATION_EXTRAS = ("implementation",)
_NODE_TYPE_KEYS = ("type", "type_hierarchy")
_RELATIONSHIP_KEYS = ("type", "target_id", "type_hierarchy", "properties")
_REL_OPERATION_KEYS = (
    "source_operations",
    "target_operations",
    "source_interfaces",
    "target_interfaces",
)
INPUT_AND_WORKFLOW_SECTIONS = ("inputs", "workflows")
GROUP_SECTIONS = ("groups", "policies", "policy_types", "policy_triggers", "scaling_groups")
LABEL_SECTIONS = ("labels", "blueprint_labels", "deployment_settings")
TYPE_TABLE_SECTIONS = ("relationships", "data_types")
OTHER_SECTIONS = (
    "version",
    "description",
    "metadata",
    "resource_tags",
    "deployment_plugins_to_install",
    "workflow_plugins_to_install",
    "host_agent_plugins_to_install",
    "namespaces_mapping",
    "requirements",
)
TOP_LEVEL_SECTIONS = (
    INPUT_AND_WORKFLOW_SECTIONS
    + GROUP_SECTIONS
    + LABEL_SECTIONS
    + TYPE_TABLE_SECTIONS
    + OTHER_SECTIONS
)


# ---------------------------------------------------------------- instance ids


def _refine(
    colour: dict[str, Any],
    out_edges: dict[str, list[tuple[Any, str]]],
    in_edges: dict[str, list[tuple[Any, str]]],
) -> dict[str, int]:
    """Colour refinement until stable; colours are ranks of sorted signatures, so two
    isomorphic graphs get the same colours whatever their instance ids."""
    classes = -1
    while True:
        signature = {
            v: (
                colour[v],
                tuple(sorted((label, colour[w]) for label, w in out_edges[v])),
                tuple(sorted((label, colour[w]) for label, w in in_edges[v])),
            )
            for v in colour
        }
        ranks = {sig: rank for rank, sig in enumerate(sorted(set(signature.values())))}
        colour = {v: ranks[signature[v]] for v in colour}
        if len(ranks) == classes:
            return colour
        classes = len(ranks)


def canonical_names(instances: list[dict[str, Any]]) -> dict[str, str]:
    """Maps every node-instance id and scaling-group-instance id to `<node or group>[k]`.

    The graph (relationships, hosts, scaling-group membership) is canonically labelled:
    colour refinement, then individualising one member of the first ambiguous class at a
    time. Members of one class are interchangeable (automorphic) in the plans compared here,
    so which one is picked does not change the result.
    """
    base: dict[str, tuple[str, str]] = {}
    out_edges: dict[str, list[tuple[Any, str]]] = defaultdict(list)
    in_edges: dict[str, list[tuple[Any, str]]] = defaultdict(list)

    def edge(source: str, label: tuple[str, ...], target: str) -> None:
        out_edges[source].append((label, target))
        in_edges[target].append((label, source))

    for inst in instances:
        base[inst["id"]] = ("node", inst["node_id"])
    for inst in instances:
        for rel in inst.get("relationships") or []:
            base.setdefault(rel["target_id"], ("node", rel.get("target_name", "?")))
            edge(inst["id"], ("rel", rel["type"], rel.get("target_name", "")), rel["target_id"])
        for group in inst.get("scaling_groups") or []:
            base.setdefault(group["id"], ("group", group["name"]))
            edge(inst["id"], ("group", group["name"]), group["id"])
        host = inst.get("host_id")
        if host and host != inst["id"]:
            base.setdefault(host, ("node", "?"))
            edge(inst["id"], ("host",), host)
    ranks = {b: r for r, b in enumerate(sorted(set(base.values())))}
    colour: dict[str, Any] = {v: ranks[b] for v, b in base.items()}
    for v in base:
        out_edges.setdefault(v, [])
        in_edges.setdefault(v, [])
    while True:
        colour = _refine(colour, out_edges, in_edges)
        members: dict[int, list[str]] = defaultdict(list)
        for v, c in colour.items():
            members[c].append(v)
        ambiguous = sorted(c for c, vs in members.items() if len(vs) > 1)
        if not ambiguous:
            break
        chosen = min(members[ambiguous[0]])
        colour[chosen] = colour[chosen] - 0.5
    names: dict[str, str] = {}
    counters: dict[tuple[str, str], int] = defaultdict(int)
    for v in sorted(colour, key=lambda v: (base[v], colour[v])):
        names[v] = f"{base[v][1]}[{counters[base[v]]}]"
        counters[base[v]] += 1
    return names


def normalise_instances(instances: list[dict[str, Any]]) -> dict[str, Any]:
    """{canonical name: {node_id, host_id, relationships, scaling_groups}}; the relationships
    keep their order, except that runs to instances of one target node are sorted."""
    names = canonical_names(instances)
    out = {}
    for inst in instances:
        rels = [
            {
                "type": r["type"],
                "target_name": r.get("target_name"),
                "target_id": names.get(r["target_id"], r["target_id"]),
            }
            for r in inst.get("relationships") or []
        ]
        ordered: list[dict[str, Any]] = []
        run: list[dict[str, Any]] = []
        for rel in rels + [None]:  # type: ignore[list-item]
            if run and (
                rel is None
                or (rel["type"], rel["target_name"]) != (run[0]["type"], run[0]["target_name"])
            ):
                ordered += sorted(run, key=lambda r: r["target_id"])
                run = []
            if rel is not None:
                run.append(rel)
        host = inst.get("host_id")
        out[names[inst["id"]]] = {
            "node_id": inst["node_id"],
            "host_id": names.get(host, host) if host else None,
            "relationships": ordered,
            "scaling_groups": [
                {"name": g["name"], "id": names.get(g["id"], g["id"])}
                for g in inst.get("scaling_groups") or []
            ],
        }
    return dict(sorted(out.items()))


def instance_counts(instances: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for inst in instances:
        counts[inst["node_id"]] += 1
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------- nodes


def _operations(ops: dict[str, Any] | None) -> dict[str, Any]:
    return {
        name: {k: v for k, v in op.items() if k not in _OUR_OPERATION_EXTRAS}
        for name, op in (ops or {}).items()
    }


def _plugin_list(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Plugin lists sorted by (name, executor): the reference orders them by the operations
    it happened to visit first, which carries no meaning."""
    return sorted(items or [], key=lambda p: (str(p.get("name")), str(p.get("executor"))))


def node_aspects(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """aspect -> {node id -> comparable value}."""
    aspects: dict[str, dict[str, Any]] = defaultdict(dict)
    for node in plan.get("nodes") or []:
        name = node["id"]
        aspects["types"][name] = {k: node.get(k) for k in _NODE_TYPE_KEYS}
        aspects["properties"][name] = node.get("properties")
        aspects["operations"][name] = {
            "operations": _operations(node.get("operations")),
            "interfaces": node.get("interfaces"),
        }
        aspects["relationships"][name] = [
            {k: rel.get(k) for k in _RELATIONSHIP_KEYS} for rel in node.get("relationships") or []
        ]
        aspects["relationship_operations"][name] = [
            {
                k: (_operations(rel.get(k)) if k.endswith("operations") else rel.get(k))
                for k in _REL_OPERATION_KEYS
            }
            for rel in node.get("relationships") or []
        ]
        aspects["scalable"][name] = {
            "host_id": node.get("host_id"),
            "scalable": ((node.get("capabilities") or {}).get("scalable") or {}).get("properties"),
        }
        aspects["plugins"][name] = {
            key: _plugin_list(node.get(key))
            for key in ("plugins", "plugins_to_install", "deployment_plugins_to_install")
        }
    return aspects


def top_level(plan: dict[str, Any], section: str) -> Any:
    value = plan.get(section)
    if section.endswith("plugins_to_install"):
        return _plugin_list(value)
    if section in ("groups", "scaling_groups") and isinstance(value, dict):
        # The reference de-duplicates members through a set: their order is arbitrary.
        return {
            name: {**group, "members": sorted(group.get("members") or [])}
            if isinstance(group, dict)
            else group
            for name, group in value.items()
        }
    return value


# ---------------------------------------------------------------- diffs


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def diff(reference: Any, ours: Any, path: str = "", limit: int = 40) -> list[str]:
    """Human-readable differences, one per line: `path: reference=... ours=...`."""
    lines: list[str] = []

    def walk(ref: Any, our: Any, at: str) -> None:
        if len(lines) >= limit:
            return
        if isinstance(ref, dict) and isinstance(our, dict):
            for key in ref:
                if key not in our:
                    lines.append(f"{at}.{key}: missing in ours (reference={_short(ref[key])})")
                else:
                    walk(ref[key], our[key], f"{at}.{key}")
            for key in our:
                if key not in ref:
                    lines.append(f"{at}.{key}: only in ours ({_short(our[key])})")
            return
        if isinstance(ref, list) and isinstance(our, list):
            if len(ref) != len(our):
                lines.append(
                    f"{at}: {len(ref)} items in the reference, {len(our)} in ours: "
                    f"reference={_short(ref)} ours={_short(our)}"
                )
                return
            for index, (r, o) in enumerate(zip(ref, our, strict=True)):
                walk(r, o, f"{at}[{index}]")
            return
        if type(ref) is not type(our) or ref != our:
            lines.append(f"{at}: reference={_short(ref)} ours={_short(our)}")

    walk(reference, ours, path)
    if len(lines) >= limit:
        lines.append("... (more differences)")
    return lines
