"""The body limit and the login limits against a real `quarterdeck api --workers 2` on the
configured database (SQLite, and PostgreSQL when QD_TEST_DATABASE_URL is set): the counts of
failed logins are shared by the API processes through the database."""

from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support import kill_tree, wait_for_http

pytestmark = pytest.mark.slow

MAX_BODY_BYTES = 8 * 1024 * 1024  # the default of QD_MAX_BODY_BYTES
FAILURES_PER_USER = 10  # the default of QD_LOGIN_FAILURES_PER_USER


@dataclass
class Api:
    port: int
    admin: tuple[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v3.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def api(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    tmp_path = tmp_path_factory.mktemp("api")
    port = _free_port()
    admin = (f"ops-{secrets.token_hex(4)}", secrets.token_urlsafe(12))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QD_")}
    env.update(
        {
            "QD_DATA_DIR": str(tmp_path),
            "QD_DATABASE_URL": database_url,
            "QD_BROKER_URL": redis_url,
            "QD_SECRET_KEY": secrets.token_urlsafe(32),
            "QD_ADMIN_USERNAME": admin[0],
            "QD_ADMIN_PASSWORD": admin[1],
        }
    )
    log = (tmp_path / "api.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "manager.cli", "api", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/v3.1/status", 60, auth=admin)
        yield Api(port, admin)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_tree(process.pid)
            process.wait()


def _basic(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(credentials).encode()).decode()


def test_a_300_mib_body_is_refused_unread(api: Api) -> None:
    """The tester's 300 MiB deployment input: declared, answered at once, never read."""
    declared = 300 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", api.port), timeout=30) as sock:
        sock.sendall(
            (
                f"PUT /api/v3.1/deployments/huge HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {_basic(api.admin)}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {declared}\r\n\r\n"
            ).encode()
            + b'{"blueprint_id": "x", "inputs": {"blob": "'
            + b"x" * 65536
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
    assert response.status == 413
    assert body["error_code"] == "bad_parameters_error"
    assert body["message"] == (
        f"The request body is {declared} bytes; at most {MAX_BODY_BYTES} are allowed "
        "(QD_MAX_BODY_BYTES)"
    )


def test_a_streamed_body_over_the_limit_is_refused(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"blueprint_id": "x", "inputs": {"blob": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}}'

    response = httpx.put(
        f"{api.url}/deployments/streamed",
        content=chunks(),
        auth=api.admin,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413, response.text
    assert (
        "larger than the limit of 8388608 bytes (QD_MAX_BODY_BYTES)" in response.json()["message"]
    )
    assert httpx.get(f"{api.url}/deployments/streamed", auth=api.admin).status_code == 404


def test_forty_wrong_passwords_in_a_row(api: Api) -> None:
    """The tester's 40 wrong passwords as fast as they go: 10 get 401, the rest 429 with
    Retry-After, whichever API process answers; then the right password waits too, and a
    token made before keeps working."""
    person = (f"person-{secrets.token_hex(4)}", secrets.token_urlsafe(12))
    created = httpx.put(
        f"{api.url}/users",
        json={"username": person[0], "password": person[1], "role": "default"},
        auth=api.admin,
    )
    assert created.status_code == 201, created.text
    token = httpx.post(f"{api.url}/tokens", json={}, auth=person).json()["value"]
    codes = []
    with httpx.Client(timeout=30) as client:
        for _ in range(40):
            response = client.get(f"{api.url}/status", auth=(person[0], "wrong"))
            codes.append(response.status_code)
            if response.status_code == 429:
                retry_after = int(response.headers["Retry-After"])
                assert 0 < retry_after <= 300
                assert response.json()["error_code"] == "too_many_requests_error"
        assert codes == [401] * FAILURES_PER_USER + [429] * (40 - FAILURES_PER_USER)
        assert client.get(f"{api.url}/status", auth=person).status_code == 429
        by_token = client.get(f"{api.url}/user", headers={"Authentication-Token": token})
        assert by_token.status_code == 200 and by_token.json()["username"] == person[0]
