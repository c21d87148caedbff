"""Groups, group policies, top-level scaling policies and the scaling groups they make (§15)."""

from __future__ import annotations

from typing import Any

from .issues import Issues, Pos
from .loader import plain, pos_of, report_unknown_keys
from .merge import Merged
from .templates import UNBOUNDED, check_scalable, container_of, read_scalable
from .versions import Gate

SCALING_POLICY = "cloudify.policies.scaling"


def _schema_values(schema: Any, given: Any, owner: str, issues: Issues, at: Pos) -> dict[str, Any]:
    schema = schema if isinstance(schema, dict) else {}
    given = given if isinstance(given, dict) else {}
    out = {}
    for key in given:
        if key not in schema:
            issues.add(
                "unknown_property", f"'{key}' is not a property of {owner}", pos_of(given, key, at)
            )
    for key, definition in schema.items():
        definition = definition if isinstance(definition, dict) else {}
        if key in given:
            out[key] = plain(given[key])
        elif "default" in definition:
            out[key] = plain(definition["default"])
        elif definition.get("required", True):
            issues.add(
                "missing_property",
                f"{owner} does not provide a value for mandatory '{key}' property",
                at,
            )
    return out


def parse_groups(merged: Merged, node_names: set[str], issues: Issues) -> dict[str, Any]:
    groups_raw = merged.dict_section("groups")
    policy_types = merged.dict_section("policy_types")
    policy_triggers = merged.dict_section("policy_triggers")
    groups: dict[str, Any] = {}
    for name, raw in groups_raw.items():
        at = merged.pos("groups", name)
        if name in node_names:
            issues.add(
                "group_name_conflict", f"Group '{name}' has the same name as a node template", at
            )
        if not isinstance(raw, dict):
            issues.add("invalid_definition", f"Group '{name}' must be a dict", at)
            continue
        report_unknown_keys(raw, ("members", "policies"), f"group '{name}'", issues, at)
        members = raw.get("members")
        if not isinstance(members, list) or not members:
            issues.add(
                "invalid_group_members", f"Group '{name}' must have a non-empty 'members' list", at
            )
            members = []
        seen = set()
        for index, member in enumerate(members):
            mat = pos_of(members, index, at)
            if member in seen:
                issues.add(
                    "duplicate_group_member",
                    f"Group '{name}' lists member '{member}' more than once",
                    mat,
                )
            seen.add(member)
            if member not in node_names and member not in groups_raw:
                issues.add(
                    "unknown_group_member",
                    f"Member '{member}' of group '{name}' is neither a node template nor a group",
                    mat,
                )
        policies: dict[str, Any] = {}
        raw_policies = raw.get("policies") or {}
        for pname, policy in raw_policies.items() if isinstance(raw_policies, dict) else []:
            pat = pos_of(raw_policies, pname, at)
            if not isinstance(policy, dict):
                issues.add(
                    "invalid_definition", f"Policy '{pname}' of group '{name}' must be a dict", pat
                )
                continue
            ptype = policy.get("type")
            if ptype not in policy_types:
                issues.add(
                    "unknown_policy_type",
                    f"Policy '{pname}' of group '{name}' has an unknown policy type '{ptype}'",
                    pos_of(policy, "type", pat),
                )
                continue
            props = _schema_values(
                (policy_types[ptype] or {}).get("properties"),
                policy.get("properties"),
                f"policy '{pname}'",
                issues,
                pat,
            )
            triggers = {}
            raw_triggers = policy.get("triggers") or {}
            for tname, trigger in raw_triggers.items() if isinstance(raw_triggers, dict) else []:
                tat = pos_of(raw_triggers, tname, pat)
                ttype = trigger.get("type") if isinstance(trigger, dict) else None
                if ttype not in policy_triggers:
                    issues.add(
                        "unknown_policy_trigger",
                        f"Trigger '{tname}' of policy '{pname}' has an unknown type '{ttype}'",
                        tat,
                    )
                    continue
                params = _schema_values(
                    (policy_triggers[ttype] or {}).get("parameters"),
                    trigger.get("parameters"),
                    f"trigger '{tname}'",
                    issues,
                    tat,
                )
                triggers[tname] = {"type": ttype, "parameters": params}
            policies[pname] = {"type": ptype, "properties": props, "triggers": triggers}
        groups[name] = {"members": plain(members), "policies": policies}
    _group_cycles(groups, merged, issues)
    return groups


def _group_cycles(groups: dict[str, Any], merged: Merged, issues: Issues) -> None:
    for start in groups:
        stack, seen = [start], set()
        while stack:
            current = stack.pop()
            for member in groups.get(current, {}).get("members", []):
                if member == start:
                    issues.add(
                        "group_cycle",
                        f"Group '{start}' contains itself (cycle)",
                        merged.pos("groups", start),
                    )
                    stack = []
                    break
                if member in groups and member not in seen:
                    seen.add(member)
                    stack.append(member)


def parse_policies(
    merged: Merged, groups: dict[str, Any], nodes: dict[str, Any], gate: Gate, issues: Issues
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Top-level policies and the scaling groups they define."""
    policies: dict[str, Any] = {}
    scaling_groups: dict[str, Any] = {}
    for name, raw in merged.dict_section("policies").items():
        at = merged.pos("policies", name)
        gate.require((1, 3), "top-level policies", at)
        if not isinstance(raw, dict):
            issues.add("invalid_definition", f"Policy '{name}' must be a dict", at)
            continue
        report_unknown_keys(raw, ("type", "properties", "targets"), f"policy '{name}'", issues, at)
        if raw.get("type") != SCALING_POLICY:
            issues.add(
                "unknown_policy_type",
                f"Policy '{name}' has type '{raw.get('type')}'; the only supported policy "
                f"type is '{SCALING_POLICY}'",
                pos_of(raw, "type", at),
            )
            continue
        targets = raw.get("targets")
        if not isinstance(targets, list) or not targets:
            issues.add(
                "invalid_policy_targets",
                f"Policy '{name}' must have a non-empty 'targets' list",
                at,
            )
            continue
        props: dict[str, Any] = {
            "default_instances": 1,
            "min_instances": 0,
            "max_instances": UNBOUNDED,
        }
        given = raw.get("properties") or {}
        if isinstance(given, dict):
            props.update(read_scalable(given, f"policy '{name}'", issues, at))
        check_scalable(props, f"Policy '{name}'", issues, at)
        props["current_instances"] = props["default_instances"]
        props["planned_instances"] = props["default_instances"]
        policies[name] = {"type": SCALING_POLICY, "properties": props, "targets": plain(targets)}
        for index, target in enumerate(targets):
            tat = pos_of(targets, index, at)
            if target not in groups:
                issues.add(
                    "unknown_policy_target",
                    f"Policy '{name}' targets '{target}' which is not a group",
                    tat,
                )
                continue
            if target in scaling_groups:
                issues.add(
                    "group_in_multiple_policies",
                    f"Group '{target}' is the target of more than one scaling policy",
                    tat,
                )
                continue
            scaling_groups[target] = {
                "members": list(groups[target]["members"]),
                "properties": dict(props),
            }
    _check_scaling_groups(scaling_groups, nodes, merged, issues)
    return policies, scaling_groups


def _check_scaling_groups(
    scaling_groups: dict[str, Any], nodes: dict[str, Any], merged: Merged, issues: Issues
) -> None:
    containers = {name: container_of(node) for name, node in nodes.items()}

    def ancestors(node: str) -> list[str]:
        out, current = [], containers.get(node)
        while current is not None and current not in out:
            out.append(current)
            current = containers.get(current)
        return out

    def node_members(group: str, seen: set[str]) -> list[str]:
        out = []
        for m in scaling_groups.get(group, {}).get("members", []):
            if m in nodes:
                out.append(m)
            elif m in scaling_groups and m not in seen:
                seen.add(m)
                out.extend(node_members(m, seen))
        return out

    owner: dict[str, str] = {}
    for name, group in scaling_groups.items():
        at = merged.pos("groups", name)
        members = group["members"]
        member_nodes = set(node_members(name, {name}))
        kept = [m for m in members if m not in nodes or not (set(ancestors(m)) & member_nodes)]
        group["members"] = kept
        for member in kept:
            if member in owner:
                issues.add(
                    "member_in_multiple_scaling_groups",
                    f"'{member}' is a member of both scaling groups '{owner[member]}' and '{name}'",
                    at,
                )
            else:
                owner[member] = name
        outside = set()
        for member in kept:
            if member in nodes:
                outside.add(containers.get(member))
            else:
                sub_nodes = node_members(member, {member})
                outer = {containers.get(n) for n in sub_nodes} - set(sub_nodes)
                outside.update(outer or {None})
        if len(outside) > 1:
            issues.add(
                "scaling_group_containment",
                f"Members of scaling group '{name}' must all be contained in the same "
                "node or all be uncontained",
                at,
            )
