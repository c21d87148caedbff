"""The worker's HTTP client of the API's worker endpoints, patient with a restarting API.

A connection failure or a 5xx is retried with backoff for up to `patience` seconds, so a
result survives the API restarting; a 4xx is final (409: the attempt is stale, drop it).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

PREFIX = "/api/v3.1/worker/operations"


class Stale(Exception):
    """The API refused the attempt: another delivery has it, or it was cancelled."""


class ApiError(Exception):
    pass


class WorkerClient:
    def __init__(self, api_url: str, token: str, *, patience: float = 300.0) -> None:
        self.patience = patience
        self.http = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
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
                    response = self.http.request(method, PREFIX + path, json=json)
                else:
                    response = self._download(PREFIX + path, download_to)
            except httpx.TransportError as exc:
                problem: str = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    if response.status_code == 409:
                        raise Stale(_message(response))
                    if response.status_code >= 400:
                        raise ApiError(f"{response.status_code}: {_message(response)}")
                    return response
                problem = f"{response.status_code}: {_message(response)}"
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
        response = self._call(
            "POST",
            f"/{operation_id}/heartbeat",
            json={"attempt": attempt},
            patience=10.0,
            longest_wait=0.5,
        )
        return bool(response.json().get("cancel"))

    def logs(self, operation_id: str, attempt: int, items: list[dict[str, Any]]) -> None:
        self._call("POST", f"/{operation_id}/logs", json={"attempt": attempt, "items": items})

    def claim_batch(
        self, items: list[tuple[str, int]], worker: str
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Claim the attempts of a message (one or more): (contexts of those claimed, in
        order; why each other one is to be dropped)."""
        body = {"items": [list(item) for item in items], "worker": worker}
        answer = self._call("POST", "/claim", json=body).json()
        return list(answer["operations"]), dict(answer["refused"])

    def report(
        self,
        results: list[dict[str, Any]],
        *,
        started: Sequence[tuple[str, int]] = (),
        release: Sequence[tuple[str, int]] = (),
        want: int = 0,
        worker: str = "",
    ) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """Report results (items of operation_id, attempt, outcome, started), announce
        starts, give back attempts not started; returns (what became of each operation,
        contexts of up to `want` operations handed over, claimed for `worker`)."""
        body = {
            "results": results,
            "started": [list(s) for s in started],
            "release": [list(r) for r in release],
            "want": want,
            "worker": worker,
        }
        answer = self._call("POST", "/results", json=body).json()
        return dict(answer["answers"]), list(answer["next"])

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


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message"))
    except ValueError:
        return response.text[:200]
