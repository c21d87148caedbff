"""The answers of the worker protocol's routes (manager.api.workers), for FastAPI.

The messages themselves are typed by `wire.operations` (typed dicts, shared with the
workers); these models describe the same answers to FastAPI. The claim and report routes
are mostly answered by the lean path, which skips them (see `manager.api.workers.answer`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ClaimAnswerRead(BaseModel):
    # The contexts of the attempts claimed (wire.operations.OperationContext), in order.
    operations: list[dict[str, Any]]
    # Why each other attempt is to be dropped, by operation id.
    refused: dict[str, str]


class ResultsAnswerRead(BaseModel):
    # What became of each reported operation, by id.
    answers: dict[str, str]
    # Operations handed over with the answer, already claimed for the worker.
    next: list[dict[str, Any]]


class HeartbeatAnswerRead(BaseModel):
    cancel: bool


class SecretValueRead(BaseModel):
    key: str
    value: Any


class PluginStateRead(BaseModel):
    id: str
    installation_state: str | None


class TaskStateRead(BaseModel):
    # An operation state (pending, queued, running, succeeded, failed, cancelled).
    state: str
    error: str | None = None


class WorkflowAnswerRead(BaseModel):
    # False once the execution is being cancelled: the body should stop.
    running: bool
    # The state of each task the body asked about, by its key.
    tasks: dict[str, TaskStateRead]
