"""The messages of the worker protocol (`/api/v3.1/worker/operations/...`), as typed dicts.

They are JSON objects on the wire and plain dicts in both processes: typing them costs
nothing on the claim/report path (no conversion per operation), and mypy checks every key
either side reads or writes against this one definition. Any change here bumps
`wire.WIRE_VERSION`.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypeAlias, TypedDict

# An operation attempt, as queued and claimed: [operation id, attempt].
AttemptRef: TypeAlias = tuple[str, int]


class PluginSpec(TypedDict):
    """The plugin an operation runs in, as the blueprint declares it (plus, for one
    uploaded to the tenant, where its archive is)."""

    name: str | None
    package_name: str | None
    package_version: str | None
    source: str | None
    install: bool
    executor: str | None
    properties: dict[str, Any]
    install_arguments: NotRequired[str | None]
    # Set when the plugin is uploaded: the worker downloads the archive by operation.
    id: NotRequired[str]
    archive_name: NotRequired[str | None]
    visibility: NotRequired[str]
    tenant_name: NotRequired[str]


class OperationInfo(TypedDict):
    name: str
    retry_number: int
    max_retries: int
    # "source" or "target" for a relationship operation.
    relationship: str | None


class RelationshipSide(TypedDict):
    node: dict[str, Any]
    instance: dict[str, Any]


class OperationContext(TypedDict):
    """Everything a worker needs to run one claimed attempt (`manager.services.
    operation_context.build`)."""

    operation_id: str
    attempt: int
    execution_id: str
    workflow_id: str
    tenant: str
    blueprint_id: str
    deployment_id: str
    deployment_display_name: str | None
    deployment_resource_tags: dict[str, Any] | None
    queue: str
    operation: OperationInfo
    task_name: str
    implementation: str | None
    executor: str | None
    plugin: PluginSpec
    inputs: dict[str, Any]
    timeout: float | None
    timeout_recoverable: bool
    has_intrinsic_functions: bool
    node: dict[str, Any]
    instance: dict[str, Any]
    host_id: str | None
    source: RelationshipSide | None
    target: RelationshipSide | None
    blueprint_dir: str
    resume: bool
    execution_token: str
    execution_creator: str | None
    workflow_parameters: dict[str, Any]
    # False until the attempt's start is announced (with its result or a report's `started`).
    announced: NotRequired[bool]
    # How a Python operation runs: "process" for a fresh process instead of a warm runner.
    isolation: NotRequired[str]


FailureKind: TypeAlias = Literal["recoverable", "nonrecoverable", "retry"]


class _OutcomeCommon(TypedDict):
    runtime_properties: NotRequired[dict[str, Any]]
    # The operation's log lines and events not sent yet.
    logs: NotRequired[list[dict[str, Any]]]
    # The API asked for the attempt to be killed, and it was.
    cancelled: NotRequired[bool]


class Succeeded(_OutcomeCommon):
    status: Literal["succeeded"]
    result: NotRequired[Any]


class Failed(_OutcomeCommon):
    """A failed attempt; kind "retry" is an operation asking to run again (ctx.retry)."""

    status: Literal["failed"]
    kind: FailureKind
    message: str
    exc_type: str
    traceback: NotRequired[str]
    retry_after: NotRequired[float | None]
    causes: NotRequired[list[dict[str, Any]]]


# What became of one attempt, told apart by `status`.
Outcome: TypeAlias = Succeeded | Failed


class ClaimRequest(TypedDict):
    """POST /claim: the attempts of one message."""

    items: list[AttemptRef]
    worker: str


class ClaimAnswer(TypedDict):
    # The contexts of the attempts claimed, in order.
    operations: list[OperationContext]
    # Why each other attempt is to be dropped, by operation id.
    refused: dict[str, str]


class ResultItem(TypedDict):
    operation_id: str
    attempt: int
    execution_id: str | None
    outcome: Outcome


class ResultsRequest(TypedDict):
    """POST /results: a batch's results, starts to announce, and attempts given back."""

    results: list[ResultItem]
    started: list[AttemptRef]
    release: list[AttemptRef]
    # How many operations of the results' queues the worker takes next (with this answer).
    want: int
    worker: str


# What became of a reported operation: "applied", "repeated", "released", "announced",
# "announced already", or why it was refused.
Answer: TypeAlias = str
FINE_ANSWERS: tuple[Answer, ...] = (
    "applied",
    "repeated",
    "released",
    "announced",
    "announced already",
)


class ResultsAnswer(TypedDict):
    answers: dict[str, Answer]
    # Operations handed over with the answer, already claimed for the worker.
    next: list[OperationContext]


class HeartbeatRequest(TypedDict):
    attempt: int


class HeartbeatAnswer(TypedDict):
    # The attempt must be killed (its execution is being force-cancelled).
    cancel: bool


class LogsRequest(TypedDict):
    attempt: int
    items: list[dict[str, Any]]
