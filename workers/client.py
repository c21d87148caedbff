"""The worker's HTTP client of the API's worker endpoints, patient with a restarting API.

A connection failure or a 5xx is retried with backoff for up to `patience` seconds, so a
result survives the API restarting; a 4xx is final (409: the attempt is stale, drop it;
400 `wire_version_mismatch`: this worker and the API speak different wire versions).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

import wire
from wire import WIRE_HEADER, WIRE_MISMATCH, json_codec
from wire.operations import (
    AttemptRef,
    ClaimAnswer,
    ClaimRequest,
    HeartbeatAnswer,
    HeartbeatRequest,
    LogsRequest,
    OperationContext,
    ResultItem,
    ResultsAnswer,
    ResultsRequest,
)
from wire.workflows import WorkflowAnswer, WorkflowRequest

log = logging.getLogger(__name__)

PREFIX = "/api/v3.1/worker/operations"
_JSON_BODY = {"content-type": "application/json"}


class Stale(Exception):
    """The API refused the attempt: another delivery has it, or it was cancelled."""


class ApiError(Exception):
    pass


class WireVersionMismatch(ApiError):
    """The API speaks another wire version: this worker must stop taking operations."""


class WorkerClient:
    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        patience: float = 300.0,
        wire_version: int | None = None,
    ) -> None:
        self.patience = patience
        # (Read when the client is made, not imported: this build's version, unless given.)
        version = wire.WIRE_VERSION if wire_version is None else wire_version
        self.http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", WIRE_HEADER: str(version)},
            timeout=httpx.Timeout(30.0, connect=5.0),
        )

    def close(self) -> None:
        self.http.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        patience: float | None = None,
        download_to: Path | None = None,
        longest_wait: float = 5.0,
    ) -> httpx.Response:
        deadline = time.monotonic() + (self.patience if patience is None else patience)
        delay = 0.2
        while True:
            try:
                if download_to is None:
                    response = self.http.request(
                        method,
                        PREFIX + path,
                        content=None if json is None else json_codec.dumps_bytes(json),
                        headers=None if json is None else _JSON_BODY,
                    )
                else:
                    response = self._download(PREFIX + path, download_to)
            except httpx.TransportError as exc:
                problem: str = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    if response.status_code == 409:
                        raise Stale(message_of(response))
                    if error_code_of(response) == WIRE_MISMATCH:
                        raise WireVersionMismatch(message_of(response))
                    if response.status_code >= 400:
                        raise ApiError(f"{response.status_code}: {message_of(response)}")
                    return response
                problem = f"{response.status_code}: {message_of(response)}"
            if time.monotonic() + delay > deadline:
                raise ApiError(f"{method} {path} failed: {problem}")
            log.warning("%s %s failed (%s); retrying in %.1fs", method, path, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, longest_wait)

    def _download(self, url: str, target: Path) -> httpx.Response:
        """Stream a successful response's body into `target`, whole or not at all."""
        with self.http.stream("GET", url, timeout=httpx.Timeout(300.0, connect=5.0)) as response:
            if response.status_code != 200:
                response.read()
                return response
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            try:
                with open(partial, "wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
            return response

    def heartbeat(self, operation_id: str, attempt: int) -> bool:
        """True when the operation must be killed."""
        # Retried often: once the API is back, the lease must be extended before it expires.
        body: HeartbeatRequest = {"attempt": attempt}
        response = self._call(
            "POST", f"/{operation_id}/heartbeat", json=body, patience=10.0, longest_wait=0.5
        )
        answer: HeartbeatAnswer = json_codec.loads(response.content)
        return bool(answer["cancel"])

    def logs(self, operation_id: str, attempt: int, items: list[dict[str, Any]]) -> None:
        body: LogsRequest = {"attempt": attempt, "items": items}
        self._call("POST", f"/{operation_id}/logs", json=body)

    def claim_batch(
        self, items: list[AttemptRef], worker: str
    ) -> tuple[list[OperationContext], dict[str, str]]:
        """Claim the attempts of a message (one or more): (contexts of those claimed, in
        order; why each other one is to be dropped)."""
        body: ClaimRequest = {"items": items, "worker": worker}
        answer: ClaimAnswer = json_codec.loads(self._call("POST", "/claim", json=body).content)
        return answer["operations"], answer["refused"]

    def report(
        self,
        results: list[ResultItem],
        *,
        started: Sequence[AttemptRef] = (),
        release: Sequence[AttemptRef] = (),
        want: int = 0,
        worker: str = "",
        longest_wait: float = 5.0,
    ) -> tuple[dict[str, str], list[OperationContext]]:
        """Report results (items of operation_id, attempt, outcome, started), announce
        starts, give back attempts not started; returns (what became of each operation,
        contexts of up to `want` operations handed over, claimed for `worker`). While the
        API cannot be reached the report is sent again, at most `longest_wait` apart."""
        body: ResultsRequest = {
            "results": results,
            "started": list(started),
            "release": list(release),
            "want": want,
            "worker": worker,
        }
        response = self._call("POST", "/results", json=body, longest_wait=longest_wait)
        answer: ResultsAnswer = json_codec.loads(response.content)
        return answer["answers"], answer["next"]

    def secret(self, operation_id: str, key: str) -> Any:
        try:
            return self._call("GET", f"/{operation_id}/secrets/{key}").json()["value"]
        except ApiError as exc:
            if str(exc).startswith("404"):
                raise KeyError(key) from None
            raise

    def resource(self, operation_id: str, path: str) -> bytes:
        try:
            return self._call("GET", f"/{operation_id}/resources/{path}").content
        except ApiError as exc:
            if str(exc).startswith("404"):
                raise FileNotFoundError(path) from None
            raise

    def workflow(self, operation_id: str, request: WorkflowRequest) -> WorkflowAnswer:
        """Forward a request of the custom workflow body running as `operation_id`."""
        answer: WorkflowAnswer = self._call(
            "POST", f"/{operation_id}/workflow", json=request
        ).json()
        return answer

    def plugin_archive(self, operation_id: str, target: Path) -> None:
        """Download the uploaded plugin the running operation installs from into `target`."""
        target.parent.mkdir(parents=True, exist_ok=True)
        self._call("GET", f"/{operation_id}/plugin", download_to=target)

    def plugin_state(
        self, operation_id: str, state: str, worker: str, error: str | None = None
    ) -> None:
        """Record on the plugin how installing it on this worker went."""
        body = {"state": state, "worker": worker, "error": error}
        self._call("POST", f"/{operation_id}/plugin/state", json=body, patience=30.0)


def error_code_of(response: httpx.Response) -> str | None:
    """The `error_code` of an API error body, or None when the body is not a JSON object."""
    try:
        return str(response.json().get("error_code"))
    except (ValueError, AttributeError):
        return None


def message_of(response: httpx.Response) -> str:
    """The `message` of an API error body, else the start of the body as text."""
    try:
        return str(response.json().get("message"))
    except (ValueError, AttributeError):
        return response.text[:200]
