"""Which instance a node name means at runtime when that node has several (get_attribute)."""

from __future__ import annotations

from typing import Any

from .issues import FunctionEvaluationError
from .storage import FunctionStorage

CONTAINED_IN = "cloudify.relationships.contained_in"


def get_instance(storage: FunctionStorage, instance_id: str) -> dict[str, Any]:
    try:
        return storage.get_node_instance(instance_id)
    except KeyError:
        raise FunctionEvaluationError(f"Node instance '{instance_id}' does not exist") from None


def choose_instance(
    storage: FunctionStorage, candidates: list[dict[str, Any]], callers: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The one candidate the first caller relates to; else, for each caller in turn, the one
    in the same instance of the innermost scaling group both belong to (cloudify's rules).

    `callers` are SELF, or SOURCE then TARGET. None when still ambiguous.
    """
    ids = {c["id"]: c for c in candidates}
    related = {
        r["target_id"] for r in callers[0].get("relationships") or [] if r.get("target_id") in ids
    }
    if len(related) == 1:
        return ids[related.pop()]
    groups = _Groups(storage)
    for caller in callers:
        chosen = groups.same_group_instance(caller, candidates)
        if chosen is not None:
            return chosen
    return None


class _Groups:
    """Scaling-group instances of node instances, following containment: an instance lists
    only the groups it is a direct member of; its container's groups contain it too."""

    def __init__(self, storage: FunctionStorage) -> None:
        self.storage = storage

    def _container(self, instance: dict[str, Any]) -> dict[str, Any] | None:
        try:
            node = self.storage.get_node(instance["node_id"])
        except KeyError:
            return None
        for rel in node.get("relationships") or []:
            if CONTAINED_IN in rel.get("type_hierarchy", ()):
                for link in instance.get("relationships") or []:
                    if link.get("target_name") == rel["target_id"]:
                        return get_instance(self.storage, link["target_id"])
                return None
        return None

    def chain(self, instance: dict[str, Any]) -> list[tuple[str, str]]:
        """(group name, group instance id) from the innermost group outwards."""
        out: list[tuple[str, str]] = []
        current: dict[str, Any] | None = instance
        seen: set[str] = set()
        while current is not None and current["id"] not in seen:
            seen.add(current["id"])
            out += [(g["name"], g["id"]) for g in current.get("scaling_groups") or []]
            current = self._container(current)
        return out

    def same_group_instance(
        self, caller: dict[str, Any], candidates: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        mine = self.chain(caller)
        theirs = {name for name, _ in self.chain(candidates[0])}
        shared = next((name for name, _ in mine if name in theirs), None)
        if shared is None:
            return None
        wanted = dict(mine)[shared]
        matching = [c for c in candidates if dict(self.chain(c)).get(shared) == wanted]
        return matching[0] if len(matching) == 1 else None
