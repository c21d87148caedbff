"""Applying a deployment update's new plan to the deployment's node and instance rows, before
its `update` workflow is built from them.

Kept nodes take their new definition (so a reinstall runs the new operations); added nodes
and instances are inserted `uninitialized`. What the workflow still needs of the old plan
stays until it succeeds (manager.orchestration.updates): removed nodes and instances, and
removed relationships, appended after the new ones on node and instance rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from manager.db import Deployment, Node, NodeInstance
from manager.db.deployments import new_instance_row
from manager.services import deployments


@dataclass
class _Matching:
    """Which planned instance is which stored one."""

    same: dict[str, str] = field(default_factory=dict)  # planned id -> stored id
    kept: list[tuple[NodeInstance, dict[str, Any]]] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def mapped(self, rel: dict[str, Any]) -> dict[str, Any]:
        """A planned relationship, pointing at the stored target where there is one."""
        return {**rel, "target_id": self.same.get(rel["target_id"], rel["target_id"])}


def apply_plan(
    session: Session,
    deployment: Deployment,
    expanded: dict[str, Any],
    new_nodes: list[dict[str, Any]],
) -> dict[str, Any]:
    """Change the rows; return what the workflow and the end of the update need."""
    old_nodes = {
        n.id: n for n in session.scalars(select(Node).where(Node.deployment_pk == deployment.pk))
    }
    new_by_id = {n["id"]: n for n in new_nodes}
    added_nodes = [n for n in new_by_id if n not in old_nodes]
    removed_nodes = [n for n in old_nodes if n not in new_by_id]
    matching = _match(session, deployment, expanded, set(old_nodes), removed_nodes)
    instance_after, added_rels, removed_rels = _relink_kept(matching)
    node_after = _update_kept_nodes(session, deployment, old_nodes, new_by_id)
    if added_nodes:
        deployments.insert_nodes(session, deployment, [new_by_id[n] for n in added_nodes], [])
    _insert_added(session, deployment, matching)
    session.flush()
    return {
        "added_nodes": added_nodes,
        "removed_nodes": removed_nodes,
        "added": [i["id"] for i in matching.added],
        "removed": matching.removed,
        "added_relationships": added_rels,
        "removed_relationships": removed_rels,
        "node_relationships": node_after,
        "instance_relationships": instance_after,
    }


def _match(
    session: Session,
    deployment: Deployment,
    expanded: dict[str, Any],
    old_nodes: set[str],
    removed_nodes: list[str],
) -> _Matching:
    """The n-th planned instance of a kept node is its n-th stored row (by index); planned
    ones beyond the stored count are added, stored ones beyond the planned count removed."""
    stored: dict[str, list[NodeInstance]] = {}
    for row in session.scalars(
        select(NodeInstance)
        .where(NodeInstance.deployment_pk == deployment.pk)
        .order_by(NodeInstance.index, NodeInstance.id)
    ):
        stored.setdefault(row.node_id, []).append(row)
    planned: dict[str, list[dict[str, Any]]] = {}
    # (Through JSON, to compare with what rows read back.)
    for instance in json.loads(json.dumps(expanded["node_instances"])):
        planned.setdefault(instance["node_id"], []).append(instance)
    matching = _Matching()
    for node_id, instances in planned.items():
        existing = stored.get(node_id, []) if node_id in old_nodes else []
        for position, instance in enumerate(instances):
            if position < len(existing):
                matching.same[instance["id"]] = existing[position].id
                matching.kept.append((existing[position], instance))
            else:
                matching.added.append(instance)
        matching.removed.extend(row.id for row in existing[len(instances) :])
    for node_id in removed_nodes:
        matching.removed.extend(row.id for row in stored.get(node_id, []))
    return matching


def _key(rel: dict[str, Any]) -> tuple[str, str]:
    """An instance relationship's node-level identity: its type and target node."""
    return rel.get("type", ""), rel.get("target_name", "")


def _relink_kept(
    matching: _Matching,
) -> tuple[dict[str, list[Any]], dict[str, list[str]], dict[str, list[str]]]:
    """Kept instances: relationships that stay keep their stored targets (containment is
    never reshuffled), new ones get their planned targets. Returns the final relationships
    of the instances that changed, and the targets added and removed per instance."""
    after_by_id: dict[str, list[Any]] = {}
    added: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}
    for row, instance in matching.kept:
        planned = instance.get("relationships") or []
        old_rels = list(row.relationships or [])
        new_keys = [_key(r) for r in planned]
        old_keys = {_key(r) for r in old_rels}
        staying = [r for r in old_rels if _key(r) in new_keys]
        joining = [matching.mapped(r) for r in planned if _key(r) not in old_keys]
        leaving = [r for r in old_rels if _key(r) not in new_keys]
        after = sorted([*staying, *joining], key=lambda r: new_keys.index(_key(r)))
        if after != old_rels:
            after_by_id[row.id] = after
            # Until the workflow ends the row names old and new targets (unlink, establish).
            row.relationships = [*after, *leaving]
            row.version += 1
        if joining:
            added[row.id] = [r["target_id"] for r in joining]
        if leaving:
            removed[row.id] = [r["target_id"] for r in leaving]
    return after_by_id, added, removed


def _update_kept_nodes(
    session: Session,
    deployment: Deployment,
    old_nodes: dict[str, Node],
    new_by_id: dict[str, dict[str, Any]],
) -> dict[str, list[Any]]:
    """Kept nodes take their new definition; removed relationships stay appended until the
    end, so that unlink finds their operations. Returns the final relationships of the
    nodes whose relationships changed."""
    after: dict[str, list[Any]] = {}
    for node_id, node in new_by_id.items():
        current = old_nodes.get(node_id)
        if current is None:
            continue
        values = deployments.node_row(deployment, node)
        for name in ("deployment_pk", "id"):
            values.pop(name)
        new_rels = values.pop("relationships")
        keys = {(r.get("type"), r.get("target_id")) for r in new_rels}
        gone = [
            r
            for r in current.relationships or []
            if (r.get("type"), r.get("target_id")) not in keys
        ]
        if new_rels != current.relationships:
            after[node_id] = new_rels
        session.execute(
            update(Node)
            .where(Node.pk == current.pk)
            .values(relationships=[*new_rels, *gone], **values)
        )
    return after


def _insert_added(session: Session, deployment: Deployment, matching: _Matching) -> None:
    if not matching.added:
        return
    node_pks = dict(
        session.execute(select(Node.id, Node.pk).where(Node.deployment_pk == deployment.pk)).all()
    )
    session.execute(
        insert(NodeInstance),
        [
            new_instance_row(
                deployment.tenant_pk,
                deployment.pk,
                node_pks[i["node_id"]],
                i,
                relationships=[matching.mapped(r) for r in i.get("relationships") or []],
                host_id=matching.same.get(i.get("host_id") or "", i.get("host_id")),
            )
            for i in matching.added
        ],
    )
