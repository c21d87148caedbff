"""Deployment modification for the `scale` workflow: add or remove instances, then undo
(rollback of a failed scale-out) or finish (removing the scaled-in rows) at the end."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from manager.db import Deployment, Node, NodeInstance
from manager.db.deployments import new_instance_row, of_deployment
from manager.errors import CodedError

KEY = "_modification"


def _node_dicts(session: Session, deployment: Deployment) -> list[dict[str, Any]]:
    rows = session.scalars(select(Node).where(Node.deployment_pk == deployment.pk))
    return [
        {
            "id": n.id,
            "name": n.id,
            "type": n.type,
            "type_hierarchy": n.type_hierarchy,
            "properties": n.properties,
            "relationships": n.relationships,
            "host_id": n.host_id,
            "capabilities": n.capabilities,
            "number_of_instances": n.number_of_instances,
            "deploy_number_of_instances": n.deploy_number_of_instances,
            "planned_number_of_instances": n.planned_number_of_instances,
            "min_number_of_instances": n.min_number_of_instances,
            "max_number_of_instances": n.max_number_of_instances,
        }
        for n in rows
    ]


def prepare(session: Session, deployment: Deployment, params: dict[str, Any]) -> dict[str, Any]:
    """Store the new instances (uninitialized) and return what the graph must do."""
    from manager.dsl import DslError, modify_deployment

    entity = str(params.get("scalable_entity_name") or "")
    delta = int(params.get("delta") or 0)
    nodes = _node_dicts(session, deployment)
    by_id = {n["id"]: n for n in nodes}
    groups = deployment.scaling_groups or {}
    if entity in by_id:
        node = by_id[entity]
        current = int(node["number_of_instances"])
        low, high = node["min_number_of_instances"], node["max_number_of_instances"]
    elif entity in groups:
        props = groups[entity].get("properties") or {}
        current = int(props.get("current_instances", props.get("default_instances", 1)))
        low, high = props.get("min_instances", 0), props.get("max_instances", -1)
    else:
        raise CodedError(
            f"Parameter `scalable_entity_name` of scale names neither a node nor a scaling "
            f"group of deployment `{deployment.id}`: {entity!r}",
            "illegal_execution_parameters_error",
        )
    wanted = current + delta
    if wanted < int(low or 0) or (int(high) >= 0 and wanted > int(high)):
        raise CodedError(
            f"Scaling `{entity}` by {delta} gives {wanted} instances, outside its bounds "
            f"[{low}, {'unbounded' if int(high) < 0 else high}]",
            "illegal_execution_parameters_error",
        )
    rows = session.scalars(
        select(NodeInstance).where(NodeInstance.deployment_pk == deployment.pk)
    ).all()
    instances = [
        {
            "id": i.id,
            "name": i.node_id,
            "node_id": i.node_id,
            "host_id": i.host_id,
            "relationships": i.relationships,
            "scaling_groups": i.scaling_groups,
            "index": i.index,
        }
        for i in rows
    ]
    change = {
        "instances": wanted,
        "removed_ids_include_hint": params.get("include_instances") or [],
        "removed_ids_exclude_hint": params.get("exclude_instances") or [],
    }
    try:
        result = modify_deployment(nodes, instances, {entity: change}, scaling_groups=groups)
    except DslError as exc:
        raise CodedError(str(exc), "illegal_execution_parameters_error") from None
    existing = {i.id: i for i in rows}
    final = {i["id"]: i for i in result["node_instances"]}
    added = [i for i in result["node_instances"] if i["id"] not in existing]
    removed = [i for i in existing if i not in final]
    node_pks = dict(
        session.execute(select(Node.id, Node.pk).where(Node.deployment_pk == deployment.pk)).all()
    )
    if added:
        session.execute(
            insert(NodeInstance),
            [
                new_instance_row(
                    deployment.tenant_pk,
                    deployment.pk,
                    node_pks[i["node_id"]],
                    i,
                    relationships=i.get("relationships") or [],
                    host_id=i.get("host_id"),
                )
                for i in added
            ],
        )
    before, after = {}, {}
    for instance_id, row in existing.items():
        if instance_id in final and final[instance_id]["relationships"] != row.relationships:
            before[instance_id] = row.relationships
            after[instance_id] = final[instance_id]["relationships"]
            # Until the workflow ends, old and new targets are both known (unlink, establish).
            merged = list(row.relationships)
            merged += [r for r in after[instance_id] if r not in merged]
            row.relationships = merged
    _set_count(session, deployment, entity, wanted)
    return {
        "entity": entity,
        "previous": current,
        "wanted": wanted,
        "added": [i["id"] for i in added],
        "removed": removed,
        "before": before,
        "after": after,
        "rollback": bool(params.get("rollback_if_failed", True)),
    }


def _set_count(session: Session, deployment: Deployment, entity: str, count: int) -> None:
    if entity in (deployment.scaling_groups or {}):
        groups = dict(deployment.scaling_groups)
        group = dict(groups[entity])
        group["properties"] = {
            **(group.get("properties") or {}),
            "current_instances": count,
            "planned_instances": count,
        }
        groups[entity] = group
        deployment.scaling_groups = groups
        return
    session.execute(
        update(Node)
        .where(Node.deployment_pk == deployment.pk, Node.id == entity)
        .values(number_of_instances=count, planned_number_of_instances=count)
    )


def finish(session: Session, deployment: Deployment, modification: dict[str, Any]) -> None:
    """The scale succeeded: drop the removed rows and keep only the new relationships."""
    _drop(session, deployment, modification["removed"])
    _relationships(session, deployment, modification["after"])


def undo(session: Session, deployment: Deployment, modification: dict[str, Any]) -> None:
    """The scale-out failed and was rolled back: forget the added instances."""
    _drop(session, deployment, modification["added"])
    _relationships(session, deployment, modification["before"])
    _set_count(session, deployment, modification["entity"], modification["previous"])


def _drop(session: Session, deployment: Deployment, ids: list[str]) -> None:
    if ids:
        session.execute(delete(NodeInstance).where(of_deployment(deployment.pk, ids)))


def _relationships(session: Session, deployment: Deployment, values: dict[str, Any]) -> None:
    for instance_id, relationships in values.items():
        session.execute(
            update(NodeInstance)
            .where(of_deployment(deployment.pk, [instance_id]))
            .values(relationships=relationships, version=NodeInstance.version + 1)
        )
