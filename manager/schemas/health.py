"""Answers of the operating routes: liveness, readiness, the workers, the worker hello."""

from __future__ import annotations

from pydantic import BaseModel


class HealthRead(BaseModel):
    """`/healthz`: the process answers."""

    status: str


class ReadyRead(BaseModel):
    """`/readyz`: OK when the database and the broker answer (503 otherwise)."""

    status: str
    database: bool
    broker: bool


class WorkerRead(BaseModel):
    """One live worker, from the presence record it renews in Redis."""

    name: str
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: str
    last_heartbeat: str
    # Seconds since that heartbeat, when the API read it.
    heartbeat_age: float
    # Operations in state `running` claimed by this worker's pool processes.
    running_operations: int
    wire_version: int


class WorkerHelloRead(BaseModel):
    """What a starting worker learns from the API before it consumes."""

    status: str
    wire_version: int
