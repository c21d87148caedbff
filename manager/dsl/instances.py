"""create_deployment_plan: inputs, static functions and node instances of a new deployment."""

from __future__ import annotations

import copy
from typing import Any

from .functions import Evaluator, Scope, function_of, has_functions
from .inputs import prepare_inputs
from .issues import DeploymentPlanError, FunctionEvaluationError
from .loader import gc_paused
from .requirements import secret_names
from .templates import UNBOUNDED
from .topology import IdFactory, NodeForest, RelationshipBuilder, node_instance_dict, random_ids


def _evaluate_operations(
    operations: dict[str, Any], ev: Evaluator, scope: Scope
) -> tuple[dict[str, Any], list[str]]:
    """The operations with static functions evaluated, and the names of those rebuilt.

    Only operations holding functions are rebuilt (an operation reachable by full and short
    name stays one object); with none, `operations` itself is returned.
    """
    out = operations
    changed: list[str] = []
    done: dict[int, dict[str, Any]] = {}
    for name, op in operations.items():
        if not op["has_intrinsic_functions"]:
            continue
        new = done.get(id(op))
        if new is None:
            new = dict(op)
            new["inputs"] = ev.evaluate(op["inputs"], scope)
            new["has_intrinsic_functions"] = has_functions(new["inputs"])
            done[id(op)] = new
        if out is operations:
            out = dict(operations)
        out[name] = new
        changed.append(name)
    return out, changed


def _evaluated_interfaces(
    interfaces: dict[str, Any], operations: dict[str, Any], changed: list[str]
) -> dict[str, Any]:
    """`interfaces` with the evaluated inputs of the `changed` plugin operations. In cloudify
    a plugin operation's inputs are the very dict of its interface entry, so evaluating one
    shows in the other; a script operation works on a copy (it adds script_path)."""
    out = interfaces
    for full in changed:
        iname, _, oname = full.rpartition(".")
        mapping = interfaces.get(iname, {}).get(oname)
        if mapping is None:
            continue  # a short name
        op = operations[full]
        if op["implementation"] != f"{op['plugin']}.{op['operation']}":
            continue  # a script
        if out is interfaces:
            out = dict(interfaces)
        if out[iname] is interfaces[iname]:
            out[iname] = dict(interfaces[iname])
        out[iname][oname] = {**mapping, "inputs": op["inputs"]}
    return out


def _evaluate_node(node: dict[str, Any], ev: Evaluator) -> None:
    name = node["id"]
    scope = Scope(kind="node", self_node=name, where=f"in node '{name}'")
    node["properties"] = ev.evaluate(node["properties"], scope)
    operations, changed = _evaluate_operations(node["operations"], ev, scope)
    if changed:
        node["operations"] = operations
        node["interfaces"] = _evaluated_interfaces(node["interfaces"], operations, changed)
    rels = []
    for rel in node["relationships"]:
        rel = dict(rel)
        rscope = Scope(
            kind="relationship",
            source_node=name,
            target_node=rel["target_id"],
            where=f"in relationship of node '{name}'",
        )
        rel["properties"] = ev.evaluate(rel["properties"], rscope)
        for side in ("source", "target"):
            operations, changed = _evaluate_operations(rel[f"{side}_operations"], ev, rscope)
            if changed:
                key = f"{side}_interfaces"
                rel[f"{side}_operations"] = operations
                rel[key] = _evaluated_interfaces(rel[key], operations, changed)
        rels.append(rel)
    node["relationships"] = rels


def _node_copy(node: dict[str, Any]) -> dict[str, Any]:
    new = dict(node)
    new["capabilities"] = copy.deepcopy(node["capabilities"])
    return new


def _counts(props: dict[str, Any], owner: str) -> dict[str, int]:
    """The evaluated instance counts. Their range is checked at parse between literals
    only: cloudify deploys a get_input count outside min..max as it is."""
    out = {}
    for key in ("default_instances", "min_instances", "max_instances"):
        value = props.get(key)
        if key == "max_instances" and value == "UNBOUNDED":
            value = UNBOUNDED
        if not isinstance(value, int) or isinstance(value, bool):
            raise DeploymentPlanError(f"{owner}: {key} must evaluate to an integer, got {value!r}")
        out[key] = value
    return out


def _inter_deployment(payloads: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def scan(value: Any, where: str) -> None:
        if isinstance(value, dict):
            fn = function_of(value)
            if fn is not None and fn[0] == "get_capability":
                args = fn[1] if isinstance(fn[1], list) else [fn[1]]
                target = args[0] if args and isinstance(args[0], str) else None
                found.append(
                    {"function_identifier": where, "target_deployment": target, "function": value}
                )
            for k, v in value.items():
                scan(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                scan(v, f"{where}[{i}]")

    for where, payload in payloads.items():
        scan(payload, where)
    return found


def create_deployment_plan(
    plan: dict[str, Any],
    inputs: dict[str, Any] | None = None,
    *,
    id_factory: IdFactory | None = None,
    runtime_only_evaluation: bool = False,
) -> dict[str, Any]:
    """Everything a new deployment stores: input values, nodes with static functions
    evaluated, node instances (§19), outputs, capabilities, groups, labels, settings.

    Unchanged parts of nodes (interfaces, operations without functions, plugins) are shared
    with `plan`: copy before mutating either. Raises InputsError subclasses,
    FunctionEvaluationError or DeploymentPlanError.
    """
    with gc_paused():
        return _create(plan, inputs, id_factory, runtime_only_evaluation)


def _create(
    plan: dict[str, Any],
    inputs: dict[str, Any] | None,
    id_factory: IdFactory | None,
    runtime_only_evaluation: bool,
) -> dict[str, Any]:
    values = prepare_inputs(plan, inputs)
    # Nodes are copied shallowly: what evaluation changes is rebuilt, the rest (interfaces,
    # unchanged operations, plugins) is shared with `plan`; a deep copy of a 1,000-node
    # plan costs seconds.
    nodes = [_node_copy(n) for n in plan["nodes"]]
    ev = Evaluator(inputs=values, nodes={n["id"]: n for n in plan["nodes"]})
    scaling_groups = copy.deepcopy(plan.get("scaling_groups") or {})
    outputs = copy.deepcopy(plan.get("outputs") or {})
    capabilities = copy.deepcopy(plan.get("capabilities") or {})
    labels = copy.deepcopy(plan.get("labels") or {})
    settings = copy.deepcopy(plan.get("deployment_settings") or {})
    policies = copy.deepcopy(plan.get("policies") or {})
    other = Scope(kind="other")
    for node in nodes:
        scalable = node["capabilities"]["scalable"]["properties"]
        props = ev.evaluate(scalable, Scope(kind="node", self_node=node["id"]))
        counts = _counts(props, f"Node '{node['id']}'")
        props.update(
            counts,
            current_instances=counts["default_instances"],
            planned_instances=counts["default_instances"],
        )
        node["capabilities"]["scalable"]["properties"] = props
        node["instances"] = {"deploy": counts["default_instances"]}
        node["number_of_instances"] = counts["default_instances"]
        node["deploy_number_of_instances"] = counts["default_instances"]
        node["planned_number_of_instances"] = counts["default_instances"]
        node["min_number_of_instances"] = counts["min_instances"]
        node["max_number_of_instances"] = counts["max_instances"]
    for name, group in scaling_groups.items():
        props = ev.evaluate(group["properties"], other)
        counts = _counts(props, f"Scaling group '{name}'")
        props.update(
            counts,
            current_instances=counts["default_instances"],
            planned_instances=counts["default_instances"],
        )
        group["properties"] = props
    if not runtime_only_evaluation:
        try:
            evaluated = {}
            for node in nodes:
                _evaluate_node(node, ev)
                evaluated[node["id"]] = node
            output_scope = Scope(kind="output", where="in outputs")
            for section in (outputs, capabilities):
                for entry in section.values():
                    entry["value"] = ev.evaluate(entry["value"], output_scope)
            for entry in labels.values():
                entry["values"] = ev.evaluate(entry["values"], other)
            for policy in policies.values():
                policy["properties"] = ev.evaluate(policy["properties"], other)
            settings = ev.evaluate(settings, other)
        except RecursionError:
            raise FunctionEvaluationError("Circular reference in intrinsic functions") from None
    topology = NodeForest(nodes, scaling_groups)
    new_id = id_factory or random_ids()
    entity_instances = topology.expand_all(new_id)
    relationships = RelationshipBuilder(topology, entity_instances)
    node_instances = []
    index: dict[str, int] = {}
    for inst in entity_instances:
        if inst.is_group:
            continue
        index[inst.entity] = index.get(inst.entity, 0) + 1
        node_instances.append(
            node_instance_dict(inst, topology, relationships.for_instance(inst), index[inst.entity])
        )
    payloads: dict[str, Any] = {f"nodes.{n['id']}": n["properties"] for n in nodes}
    payloads.update({f"outputs.{k}": v["value"] for k, v in outputs.items()})
    payloads.update({f"capabilities.{k}": v["value"] for k, v in capabilities.items()})
    for node in nodes:
        for op_name, op in node["operations"].items():
            if op["has_intrinsic_functions"] and "." in op_name:
                payloads[f"nodes.{node['id']}.operations.{op_name}"] = op["inputs"]
    return {
        "inputs": values,
        "nodes": nodes,
        "node_instances": node_instances,
        "outputs": outputs,
        "capabilities": capabilities,
        "groups": copy.deepcopy(plan.get("groups") or {}),
        "policies": policies,
        "scaling_groups": scaling_groups,
        "workflows": copy.deepcopy(plan.get("workflows") or {}),
        "labels": labels,
        "deployment_settings": settings,
        # Kept as written, like Cloudify: functions in them are evaluated when an execution
        # hands them to its operations (manager.services.operation_context).
        "resource_tags": copy.deepcopy(plan.get("resource_tags") or {}),
        "inter_deployment_dependencies": _inter_deployment(payloads),
        "secrets": secret_names(plan.get("requirements")),
    }
