"""Reading a deployment's nodes and instances into the plain `Topology` that workflow
builders take (the builders never see the ORM)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextualSelect, bindparam, select, text
from sqlalchemy.orm import Session

from manager.db import Deployment, Node, NodeInstance
from manager.db.base import JsonDoc
from manager.workflows.topology import Topology


def load_topology(
    session: Session, deployment: Deployment, *, mapped_only: bool = False
) -> Topology:
    """The deployment's topology. With `mapped_only`, for graph builders, which look only
    at operations that have an implementation: the database leaves out the others, and
    every part of node rows the builders do not read (decoding them was most of the cost
    of starting an execution)."""
    if mapped_only:
        statement = _lean_nodes(session.get_bind().dialect.name)
        nodes: Any = session.execute(statement, {"deployment_pk": deployment.pk}).mappings()
    else:
        nodes = session.execute(
            select(
                Node.id,
                Node.type,
                Node.type_hierarchy,
                Node.operations,
                Node.relationships,
                Node.plugins,
                Node.properties,
            ).where(Node.deployment_pk == deployment.pk)
        ).mappings()
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


# The lean node rows, in each database's JSON dialect. Every column keeps the shape
# `Topology` reads: `operations` holds only the entries whose `operation` is set; each
# relationship only its target, type, type hierarchy and mapped operations; `properties`
# only what `install_method` reads. A missing key comes back as a null, which `Topology`
# reads as it reads a missing key. (SQLite's `->` keeps JSON values as JSON: its
# json_extract would turn true into 1.)

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

_SQLITE_MAPPED = """coalesce((
    SELECT json_group_object(o.key, json(o.value)) FROM json_each(
        CASE WHEN json_type({source}) = 'object' THEN {source} END) AS o
    WHERE o.type = 'object' AND coalesce(json_extract(o.value, '$.operation'), '') <> ''
    ), '{{}}')"""

_SQLITE_NODES = """
SELECT n.id, n.type, n.type_hierarchy, n.plugins,
    {operations} AS operations,
    coalesce((
        SELECT json_group_array(json_object(
            'target_id', r.value -> '$.target_id',
            'type', r.value -> '$.type',
            'type_hierarchy', r.value -> '$.type_hierarchy',
            'source_operations', json({source_operations}),
            'target_operations', json({target_operations})))
        FROM json_each(
            CASE WHEN json_type(n.relationships) = 'array' THEN n.relationships END) AS r),
        '[]') AS relationships,
    json_object(
        'install_agent', n.properties -> '$.install_agent',
        'agent_config', json_object(
            'install_method', n.properties -> '$.agent_config.install_method')
    ) AS properties
FROM nodes AS n WHERE n.deployment_pk = :deployment_pk
""".format(
    operations=_SQLITE_MAPPED.format(source="n.operations"),
    source_operations=_SQLITE_MAPPED.format(source="r.value -> '$.source_operations'"),
    target_operations=_SQLITE_MAPPED.format(source="r.value -> '$.target_operations'"),
)


def _lean_nodes(dialect: str) -> TextualSelect:
    sql = _POSTGRES_NODES if dialect == "postgresql" else _SQLITE_NODES
    return (
        text(sql)
        .bindparams(bindparam("deployment_pk"))
        .columns(
            type_hierarchy=JsonDoc,
            plugins=JsonDoc,
            operations=JsonDoc,
            relationships=JsonDoc,
            properties=JsonDoc,
        )
    )
