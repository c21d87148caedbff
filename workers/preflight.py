"""The worker's start-up check of the API: reachable at QD_API_URL, accepting this
worker's token, and speaking its wire version."""

from __future__ import annotations

import time

import httpx

import wire
from wire import WIRE_HEADER, WIRE_MISMATCH
from workers.client import error_code_of, message_of

HELLO_PATH = "/api/v3.1/worker/hello"


class ApiUnavailable(Exception):
    """The API cannot be used by this worker; the message is one line naming why."""


def check_api(api_url: str, token: str, wait: float, interval: float = 0.5) -> None:
    """Ask the API's hello route until it answers or `wait` seconds have passed.

    A refused token or another wire version fails at once: waiting cannot fix either."""
    deadline = time.monotonic() + wait
    headers = {"Authorization": f"Bearer {token}", WIRE_HEADER: str(wire.WIRE_VERSION)}
    url = api_url.rstrip("/") + HELLO_PATH
    while True:
        try:
            response = httpx.get(url, headers=headers, timeout=5)
        except httpx.HTTPError as exc:
            problem = f"cannot reach the API at QD_API_URL={api_url}: {type(exc).__name__}"
            detail = str(exc).strip().splitlines()
            if detail:
                problem += f": {detail[0]}"
        else:
            if response.status_code == 200:
                return
            if response.status_code == 401:
                raise ApiUnavailable(
                    f"the API at QD_API_URL={api_url} refuses this worker's QD_WORKER_TOKEN "
                    "(it must be the API's QD_WORKER_TOKEN, or derived from its QD_SECRET_KEY)"
                )
            if error_code_of(response) == WIRE_MISMATCH:
                raise ApiUnavailable(message_of(response))
            problem = (
                f"the API at QD_API_URL={api_url} answered {response.status_code} to "
                f"{HELLO_PATH}: is it a Quarterdeck API of this release?"
            )
        if time.monotonic() + interval > deadline:
            raise ApiUnavailable(problem)
        time.sleep(interval)
