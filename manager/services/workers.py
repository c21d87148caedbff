"""The live workers: presence records from Redis (wire.presence), with the operations
each one is running from the database."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from manager.broker import Broker
from manager.db import Execution, Operation
from manager.orchestration.operation_states import QUEUED, RUNNING
from wire.presence import PRESENCE_PREFIX, WorkerPresence
from wire.queues import CENTRAL_QUEUE

log = logging.getLogger(__name__)


def presences(broker: Broker) -> list[WorkerPresence]:
    """Every presence record in Redis (expired ones are gone); raises redis.RedisError."""
    keys = list(broker.redis.scan_iter(match=PRESENCE_PREFIX + "*", count=500))
    if not keys:
        return []
    found: list[WorkerPresence] = []
    for raw in broker.redis.mget(keys):
        if raw is None:  # (expired between the scan and the read)
            continue
        try:
            found.append(json.loads(raw))
        except ValueError:
            log.warning("ignoring a malformed worker presence record")
    return found


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def list_workers(session: Session, broker: Broker) -> list[dict[str, Any]]:
    """The live workers, by name then host and pid, each with its running operations.

    Operations name their worker `<hostname>:<pool pid>` when claimed; a presence lists its
    pool pids, so one query counts what each worker runs."""
    records = presences(broker)
    owner: dict[str, int] = {}
    for index, record in enumerate(records):
        for pid in record.get("pool_pids") or []:
            owner[f"{record['hostname']}:{pid}"] = index
    running = [0] * len(records)
    if owner:
        rows = session.execute(
            select(Operation.worker, func.count())
            .where(Operation.state == RUNNING, Operation.worker.in_(list(owner)))
            .group_by(Operation.worker)
        )
        for worker, count in rows:
            running[owner[str(worker)]] += int(count)
    now = time.time()
    answer = [
        {
            "name": record["name"],
            "hostname": record["hostname"],
            "pid": record["pid"],
            "queues": list(record.get("queues") or []),
            "concurrency": int(record.get("concurrency") or 0),
            "started_at": _iso(record["started_at"]),
            "last_heartbeat": _iso(record["heartbeat_at"]),
            "heartbeat_age": round(max(0.0, now - record["heartbeat_at"]), 3),
            "running_operations": running[index],
            "wire_version": int(record.get("wire_version") or 0),
        }
        for index, record in enumerate(records)
    ]
    answer.sort(key=lambda w: (w["name"], w["hostname"], w["pid"]))
    return answer


def safe_list_workers(session: Session, broker: Broker) -> list[dict[str, Any]] | None:
    """`list_workers`, or None when Redis cannot be read."""
    try:
        return list_workers(session, broker)
    except redis.RedisError as exc:
        log.warning("cannot read the workers' presence from the broker: %s", exc)
        return None


def metrics_snapshot(
    session: Session, broker: Broker
) -> tuple[dict[str, int], dict[str, int], int | None]:
    """What `/metrics` reads at scrape time: executions by status, messages waiting per
    queue (the central queue, the live workers' queues and those of queued operations),
    and the number of live workers (None when Redis cannot be read)."""
    executions = {
        str(status): int(count)
        for status, count in session.execute(
            select(Execution.status, func.count()).group_by(Execution.status)
        )
    }
    names = {CENTRAL_QUEUE}
    names.update(
        session.scalars(select(Operation.queue).where(Operation.state == QUEUED).distinct())
    )
    workers = safe_list_workers(session, broker)
    for worker in workers or []:
        names.update(worker["queues"])
    queues: dict[str, int] = {}
    for name in sorted(names):
        depth = broker.backlog(name)
        if depth is not None:
            queues[name] = depth
    return executions, queues, None if workers is None else len(workers)


def readiness(session: Session, broker: Broker) -> tuple[bool, bool]:
    """(the database answers, the broker answers)."""
    try:
        session.execute(text("SELECT 1"))
        database = True
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        database = False
    return database, broker.ping()
