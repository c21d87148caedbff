"""Event and log listing, in the stable order offset-tailing clients rely on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request

from manager.api.deps import CurrentPrincipal, SessionDep, require
from manager.api.pagination import (
    MAX_SIZE,
    ListSpec,
    in_member_tenants,
    parse_list_query,
    parse_timestamp,
    run_list,
)
from manager.db import Event
from manager.db import event_store as events
from manager.schemas.common import READ, ListRead
from manager.schemas.events import FIELDS, EventRead, event_read
from manager.services import execution_groups

router = APIRouter(prefix="/events", tags=["events"])

LIST_SPEC = ListSpec(
    columns={
        # Both timestamps sort by the per-execution sequence: it is the order events were
        # committed in, so new events always sort after the ones a client already has.
        "reported_timestamp": Event.seq,
        "timestamp": Event.seq,
        "execution_id": Event.execution_id,
        "deployment_id": Event.deployment_id,
        "blueprint_id": Event.blueprint_id,
        "node_id": Event.node_name,
        "node_name": Event.node_name,
        "node_instance_id": Event.node_instance_id,
        "event_type": Event.event_type,
        "level": Event.level,
        "type": Event.type,
        "workflow_id": Event.workflow_id,
        "operation": Event.operation,
        "message": Event.message,
        "_storage_id": Event.pk,
    },
    fields=FIELDS,
    default_sort=("reported_timestamp",),
    # As Cloudify 7.0.5: `client.events.list(execution_id=...)` gets every event of an
    # ordinary execution in one page.
    default_size=MAX_SIZE,
    tie_breaker=Event.pk,
    field_aliases={"message.text": "message"},
    # `_range=@timestamp,from,to` (`cfy events list --from/--to`) is on the time the event
    # happened, not on the order column both timestamps sort by.
    range_columns={
        "timestamp": Event.reported_timestamp,
        "reported_timestamp": Event.reported_timestamp,
    },
    extra_params=("execution_group_id", "from_datetime", "to_datetime"),
)
_LIKE = ("operation", "message")


@router.get("", response_model=ListRead[EventRead], **READ, dependencies=[require("event_list")])
def list_events(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    query = parse_list_query(request, LIST_SPEC)
    stmt = events.listed()
    if query.all_tenants and principal.scope is None:
        stmt = stmt.where(in_member_tenants(Event, principal))
    else:
        stmt = stmt.where(Event.tenant_pk == principal.tenant_pk)
    # Cloudify's `from_datetime`/`to_datetime` (both inclusive), on the time the event
    # happened, as `_range=@timestamp,from,to` is (cloudify_rest_client sends either).
    if value := request.query_params.get("from_datetime"):
        stmt = stmt.where(Event.reported_timestamp >= parse_timestamp(value, "from_datetime"))
    if value := request.query_params.get("to_datetime"):
        stmt = stmt.where(Event.reported_timestamp < _end_of(value, "to_datetime"))
    if group_id := query.params.get("execution_group_id"):
        stmt = stmt.where(Event.execution_id.in_(execution_groups.member_ids(principal, group_id)))
    for name in _LIKE:
        for value in query.filters.pop(name, []):
            stmt = stmt.where(LIST_SPEC.columns[name].ilike(f"%{value}%"))
    return run_list(session, stmt, LIST_SPEC, query, event_read)


def _end_of(value: str, name: str) -> datetime:
    """Just after the moment `value` names, at the precision it is written in: events are
    shown with milliseconds, so `to_datetime` set to an event's shown time includes it
    (stored times have microseconds)."""
    moment = parse_timestamp(value, name)
    if ":" not in value:  # a date: the whole day
        return moment + timedelta(days=1)
    if "." not in value:
        return moment + timedelta(seconds=1)
    if moment.microsecond % 1000 == 0:
        return moment + timedelta(milliseconds=1)
    return moment + timedelta(microseconds=1)
