"""Labels of blueprints, deployments and deployment groups: Cloudify's rules for a key and a
value, the labels a blueprint's YAML declares, and the keys and values `/labels/<resource>`
lists.

Labels are kept on each resource as a JSON list of `{"key", "value", "created_at",
"created_by"}` (keys lower-cased, as Cloudify does); filter rules search that list
(manager.services.filter_rules).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from manager.db import Blueprint, Deployment
from manager.db.base import utcnow
from manager.errors import BadParameters
from manager.schemas.common import iso
from manager.services.identity import Principal
from manager.services.tenancy import visible

# Keys that start with `csys-` belong to Cloudify's own features; these are the ones a user
# may set (cloudify-manager 7.0.5's RESERVED_LABELS).
RESERVED_PREFIX = "csys-"
RESERVED_KEYS = (
    "csys-consumer-id",
    "csys-env-type",
    "csys-environment",
    "csys-location-lat",
    "csys-location-long",
    "csys-location-name",
    "csys-obj-name",
    "csys-obj-parent",
    "csys-obj-type",
    "csys-wrcp-group-id",
    "csys-wrcp-services",
)
MAX_LENGTH = 256
# `/labels/<resource>` lists these resources' labels.
LABELED: dict[str, type[Deployment] | type[Blueprint]] = {
    "deployments": Deployment,
    "blueprints": Blueprint,
}

Pair = tuple[str, str]


def parse_label(key: Any, value: Any) -> Pair:
    """One label checked as Cloudify checks it: the key lower-cased, the value stripped."""
    if not isinstance(key, str) or not isinstance(value, str):
        raise BadParameters(
            f"Label {key!r}: {value!r} is not valid: a label's key and value must be strings"
        )
    if not key or len(key) > MAX_LENGTH or len(value) > MAX_LENGTH:
        raise BadParameters(
            f"Label `{key}`: the key must be 1 to {MAX_LENGTH} characters and the value at "
            f"most {MAX_LENGTH}"
        )
    if quote(key, safe="") != key:
        raise BadParameters(
            f"The key `{key}` contains illegal characters. Only letters, digits and the "
            "characters `-`, `.` and `_` are allowed"
        )
    if any(unicodedata.category(char)[0] == "C" or char == '"' for char in value):
        raise BadParameters(
            f"The value `{value!r}` of label `{key}` contains illegal characters. Control "
            'characters and `"` are not allowed.'
        )
    key, value = key.lower(), value.strip()
    if key.startswith(RESERVED_PREFIX) and key not in RESERVED_KEYS:
        raise BadParameters(
            f"All labels with a `{RESERVED_PREFIX}` prefix are reserved for internal use. "
            f"Allowed `{RESERVED_PREFIX}` prefixed labels are: {', '.join(RESERVED_KEYS)}"
        )
    return key, value


def parse_labels(raw: Any) -> list[Pair]:
    """A request's labels: `[{"key": k, "value": v}]` (blueprint uploads, the rest client's
    objects) or `[{k: v}]` / `[{k: [v1, v2]}]` (what `cfy --labels` sends). The same label
    twice is refused."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadParameters("`labels` must be a list of {key: value} objects")
    pairs: list[Pair] = []
    for label in raw:
        if isinstance(label, dict) and set(label) >= {"key", "value"}:
            entries: Iterable[tuple[Any, Any]] = [(label["key"], label["value"])]
        elif isinstance(label, dict) and len(label) == 1:
            [(key, values)] = label.items()
            entries = [(key, v) for v in (values if isinstance(values, list) else [values])]
        else:
            raise BadParameters(
                f"Label {label!r} is not valid: each label is {{key: value}} or "
                '{"key": ..., "value": ...}'
            )
        pairs.extend(parse_label(key, value) for key, value in entries)
    if len(set(pairs)) != len(pairs):
        raise BadParameters("You cannot define the same label twice")
    return pairs


def plan_labels(section: dict[str, Any] | None, where: str) -> list[Pair]:
    """The labels a plan's `labels` or `blueprint_labels` section declares, values
    evaluated; a value still holding a function after evaluation is refused."""
    pairs: list[Pair] = []
    for key, entry in (section or {}).items():
        for value in entry.get("values") or []:
            if not isinstance(value, str):
                raise BadParameters(
                    f"The value {value!r} of label `{key}` in {where} did not evaluate to a string"
                )
            pair = parse_label(key, value)
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def union(*groups: Sequence[Pair]) -> list[Pair]:
    """The labels of every group, each once, in the order first seen."""
    merged: list[Pair] = []
    for group in groups:
        merged.extend(pair for pair in group if pair not in merged)
    return merged


def rows(pairs: Iterable[Pair], principal: Principal) -> list[dict[str, Any]]:
    """Labels as the resources keep them, stamped with their creator and the time."""
    now = iso(utcnow())
    return [
        {"key": key, "value": value, "created_at": now, "created_by": principal.username}
        for key, value in pairs
    ]


def pairs_of(labels: Iterable[dict[str, Any]]) -> list[Pair]:
    return [(label["key"], label["value"]) for label in labels]


def add(
    current: list[dict[str, Any]], pairs: Iterable[Pair], principal: Principal
) -> list[dict[str, Any]]:
    """`current` with the labels it lacks of `pairs` appended (a new list)."""
    have = set(pairs_of(current))
    return [*current, *rows((p for p in pairs if p not in have), principal)]


def replace(
    current: list[dict[str, Any]], pairs: Sequence[Pair], principal: Principal
) -> list[dict[str, Any]]:
    """`pairs` as the new labels; those already there keep their creator and time."""
    kept = [label for label in current if (label["key"], label["value"]) in pairs]
    have = set(pairs_of(kept))
    return [*kept, *rows((p for p in pairs if p not in have), principal)]


def remove(current: list[dict[str, Any]], pairs: Iterable[Pair]) -> list[dict[str, Any]]:
    gone = set(pairs)
    return [label for label in current if (label["key"], label["value"]) not in gone]


def _labels_of(session: Session, principal: Principal, resource: str) -> list[Pair]:
    model = LABELED[resource]
    columns = session.scalars(visible(select(model.labels), model, principal)).all()
    return [pair for labels in columns for pair in pairs_of(labels or [])]


def keys(session: Session, principal: Principal, resource: str, search: str | None) -> list[str]:
    """Every label key of the resources the caller can see, sorted, each once."""
    found = {key for key, _ in _labels_of(session, principal, resource)}
    return sorted(k for k in found if not search or search.lower() in k)


def values(
    session: Session, principal: Principal, resource: str, key: str, search: str | None
) -> list[str]:
    """Every value of one label key among the resources the caller can see, sorted."""
    key = parse_label(key, "")[0]
    found = {v for k, v in _labels_of(session, principal, resource) if k == key}
    return sorted(v for v in found if not search or search.lower() in v.lower())
