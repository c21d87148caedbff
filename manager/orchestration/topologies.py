"""Reading a deployment's nodes and instances into the plain `Topology` that workflow
builders take (the builders never see the ORM)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, TextualSelect, bindparam, select, text, type_coerce
from sqlalchemy.orm import Session

from manager.db import Deployment, Node, NodeInstance
from manager.db.base import JsonDoc
from manager.workflows.topology import Topology, is_mapped
from wire import json_codec

NODE_COLUMNS = (
    Node.id,
    Node.type,
    Node.type_hierarchy,
    Node.operations,
    Node.relationships,
    Node.plugins,
    Node.properties,
)


def load_topology(
    session: Session, deployment: Deployment, *, mapped_only: bool = False
) -> Topology:
    """The deployment's topology. With `mapped_only`, for graph builders, which look only
    at operations that have an implementation, the node rows cost less to read (decoding
    their JSON was most of the cost of starting an execution): PostgreSQL leaves out the
    other operations and what builders do not read; elsewhere each distinct JSON text is
    decoded once (nodes of one type mostly share their operations)."""
    if not mapped_only:
        nodes: Any = session.execute(
            select(*NODE_COLUMNS).where(Node.deployment_pk == deployment.pk)
        ).mappings()
    elif session.get_bind().dialect.name == "postgresql":
        nodes = session.execute(_POSTGRES_LEAN, {"deployment_pk": deployment.pk}).mappings()
    else:
        nodes = _decoded_once(session, deployment)
    instances = session.execute(
        select(
            NodeInstance.id,
            NodeInstance.node_id,
            NodeInstance.state,
            NodeInstance.host_id,
            NodeInstance.relationships,
        ).where(NodeInstance.deployment_pk == deployment.pk)
    ).mappings()
    return Topology([dict(n) for n in nodes], [dict(i) for i in instances])


def _decoded_once(session: Session, deployment: Deployment) -> list[dict[str, Any]]:
    """Node rows whose JSON columns are read as text, each distinct text decoded once.

    Rows that share a text share its decoded value, so each node gets its own dict of
    mapped operations (whose definitions the builders only read)."""
    json_columns = NODE_COLUMNS[2:]
    rows = session.execute(
        select(Node.id, Node.type, *(type_coerce(c, String) for c in json_columns)).where(
            Node.deployment_pk == deployment.pk
        )
    ).all()
    decoded: dict[str, Any] = {}

    def load(value: str | None) -> Any:
        if value is None:
            return None
        found = decoded.get(value)
        if found is None:
            found = decoded[value] = json_codec.loads(value)
        return found

    nodes = []
    for row in rows:
        hierarchy, operations, relationships, plugins, properties = map(load, row[2:])
        nodes.append(
            {
                "id": row[0],
                "type": row[1],
                "type_hierarchy": hierarchy,
                "operations": _mapped(operations),
                "relationships": relationships,
                "plugins": plugins,
                "properties": properties,
            }
        )
    return nodes


def _mapped(operations: Any) -> Any:
    if not isinstance(operations, dict):
        return operations
    return {name: op for name, op in operations.items() if is_mapped(op)}


# PostgreSQL's lean node rows. Every column keeps the shape `Topology` reads: `operations`
# holds only the entries whose `operation` is set; each relationship only its target, type,
# type hierarchy and mapped operations; `properties` only what `install_method` reads. A
# missing key comes back as a null, which `Topology` reads as it reads a missing key.

_POSTGRES_MAPPED = """coalesce((
    SELECT jsonb_object_agg(o.key, o.value) FROM jsonb_each(
        CASE WHEN jsonb_typeof({source}) = 'object' THEN {source} END) AS o
    WHERE jsonb_typeof(o.value) = 'object' AND coalesce(o.value ->> 'operation', '') <> ''
    ), '{{}}'::jsonb)"""

_POSTGRES_NODES = """
SELECT n.id, n.type, n.type_hierarchy, n.plugins,
    {operations} AS operations,
    coalesce((
        SELECT jsonb_agg(jsonb_build_object(
            'target_id', r.value -> 'target_id',
            'type', r.value -> 'type',
            'type_hierarchy', r.value -> 'type_hierarchy',
            'source_operations', {source_operations},
            'target_operations', {target_operations}) ORDER BY r.position)
        FROM jsonb_array_elements(
            CASE WHEN jsonb_typeof(n.relationships) = 'array' THEN n.relationships END)
            WITH ORDINALITY AS r(value, position)), '[]'::jsonb) AS relationships,
    jsonb_build_object(
        'install_agent', n.properties -> 'install_agent',
        'agent_config', jsonb_build_object(
            'install_method', n.properties -> 'agent_config' -> 'install_method')
    ) AS properties
FROM nodes AS n WHERE n.deployment_pk = :deployment_pk
""".format(
    operations=_POSTGRES_MAPPED.format(source="n.operations"),
    source_operations=_POSTGRES_MAPPED.format(source="r.value -> 'source_operations'"),
    target_operations=_POSTGRES_MAPPED.format(source="r.value -> 'target_operations'"),
)

_POSTGRES_LEAN: TextualSelect = (
    text(_POSTGRES_NODES)
    .bindparams(bindparam("deployment_pk"))
    .columns(
        type_hierarchy=JsonDoc,
        plugins=JsonDoc,
        operations=JsonDoc,
        relationships=JsonDoc,
        properties=JsonDoc,
    )
)
