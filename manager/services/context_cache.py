"""What operation contexts of one execution share, read once per execution and kept by the
database's sessions (see `attach`): the deployment's names, and of its nodes only the
parts contexts show.

A node's `operations` and `relationships` are most of its row (tens of kilobytes of JSON
for a node of the standard types, nearly all of it operations nobody runs). Decoding them
for every node cost more than the rest of the contexts put together, so a context reads
just the one operation (or relationship) it runs, through the database's JSON path
operators, and that is kept too.

None of it changes while an execution's operations run: a deployment update and a scale
change nodes before their execution builds its graph (and a scale's rollback restores its
count after its last operation), so what is kept is keyed by execution and a new execution
reads afresh. Caching across executions would need a version on node rows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from manager.db import Node

# The key of the cache in the `info` of the database's sessions.
_INFO_KEY = "qd_operation_contexts"
# Executions whose shared parts are kept (the least recently used go first).
EXECUTIONS_KEPT = 64
# The node columns a context shows as they are (operations and relationships: see above).
_NODE_COLUMNS = (
    Node.id,
    Node.type,
    Node.type_hierarchy,
    Node.properties,
    Node.plugins,
    Node.number_of_instances,
)


@dataclass
class NodeFacts:
    """One node as contexts use it: `view` is what a context shows of it, `plugins` the
    plugins its operations may name; its operations and relationships are filled in as
    contexts need them (by name, and by index)."""

    view: dict[str, Any]
    plugins: list[Any]
    operations: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    relationships: dict[int, dict[str, Any] | None] = field(default_factory=dict)


@dataclass
class Shared:
    """What every operation of one execution sees the same: the deployment's names and the
    nodes and uploaded plugins its operations used so far."""

    deployment_pk: int
    deployment_id: str
    display_name: str | None
    tenant_pk: int
    tenant_name: str
    blueprint_id: str
    blueprint_dir: str
    creator: str | None
    nodes: dict[str, NodeFacts] = field(default_factory=dict)
    plugins: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    # The deployment's `resource_tags` with their functions evaluated (None: not yet).
    resource_tags: dict[str, Any] | None = None
    # (The secret key it was derived with, the execution's token), once derived.
    token: tuple[str, str] | None = None


class ContextCache:
    """The `Shared` parts of the executions whose operations were handed out lately."""

    def __init__(self, kept: int = EXECUTIONS_KEPT) -> None:
        self.kept = kept
        self._lock = threading.Lock()
        self._executions: OrderedDict[str, Shared] = OrderedDict()

    def get(self, execution_id: str) -> Shared | None:
        with self._lock:
            found = self._executions.get(execution_id)
            if found is not None:
                self._executions.move_to_end(execution_id)
            return found

    def put(self, execution_id: str, shared: Shared) -> None:
        with self._lock:
            self._executions[execution_id] = shared
            while len(self._executions) > self.kept:
                self._executions.popitem(last=False)


def attach(factories: list[sessionmaker[Session]], cache: ContextCache | None = None) -> None:
    """Let the sessions of `factories` (one database's) share one cache."""
    cache = cache or ContextCache()
    for factory in factories:
        factory.kw.setdefault("info", {})[_INFO_KEY] = cache


def of(session: Session) -> ContextCache:
    """The cache of the session's database; a session of a database nobody attached one
    to gets an empty one of its own (its contexts are right, read afresh)."""
    found = session.info.get(_INFO_KEY)
    if found is None:
        found = session.info[_INFO_KEY] = ContextCache()
    return found  # type: ignore[no-any-return]


def load_nodes(session: Session, shared: Shared, node_ids: set[str]) -> None:
    """Read the nodes of `node_ids` not read yet (the first time, every node of the
    deployment: most will be needed)."""
    missing = node_ids - shared.nodes.keys()
    if not missing:
        return
    query = select(*_NODE_COLUMNS).where(Node.deployment_pk == shared.deployment_pk)
    if shared.nodes:
        query = query.where(Node.id.in_(missing))
    for row in session.execute(query):
        shared.nodes[row.id] = NodeFacts(view=_view(row), plugins=row.plugins or [])


def _view(row: Any) -> dict[str, Any]:
    """What plugins read of a node (its operations and relationships stay on the API)."""
    return {
        "id": row.id,
        "name": row.id,
        "type": row.type,
        "type_hierarchy": row.type_hierarchy,
        "properties": row.properties,
        "number_of_instances": row.number_of_instances,
    }


def load_operations(session: Session, shared: Shared, wanted: set[tuple[str, str]]) -> None:
    """Read the operations (node id, operation name) not read yet: each name once, for
    every node of the deployment (an execution runs the same few on many nodes)."""
    names = {
        name
        for node_id, name in wanted
        if node_id in shared.nodes and name not in shared.nodes[node_id].operations
    }
    for name in names:
        # (SQLite's JSON paths cannot spell every key: a name with a quote or a backslash
        # reads the whole column, and the operation is looked up here.)
        whole = '"' in name or "\\" in name
        column = Node.operations if whole else Node.operations[name]
        query = select(Node.id, column).where(Node.deployment_pk == shared.deployment_pk)
        for node_id, spec in session.execute(query):
            facts = shared.nodes.get(node_id)
            if facts is not None:
                facts.operations[name] = (spec or {}).get(name) if whole else spec


def load_relationships(session: Session, shared: Shared, wanted: set[tuple[str, int]]) -> None:
    """Read the relationships (node id, index) not read yet: one query per index."""
    indexes: dict[int, set[str]] = {}
    for node_id, index in wanted:
        facts = shared.nodes.get(node_id)
        if facts is not None and index not in facts.relationships:
            indexes.setdefault(index, set()).add(node_id)
    for index, node_ids in indexes.items():
        query = select(Node.id, Node.relationships[index]).where(
            Node.deployment_pk == shared.deployment_pk, Node.id.in_(node_ids)
        )
        for node_id, definition in session.execute(query):
            shared.nodes[node_id].relationships[index] = definition
