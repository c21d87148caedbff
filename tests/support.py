"""Helpers for tests that start real processes: ports, waiting, process trees."""

from __future__ import annotations

import os
import socket
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx


def without_settings() -> dict[str, str]:
    """The test process's environment without Quarterdeck settings (QD_*), except the
    operation user, which the test session chooses (see tests/conftest.py)."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("QD_") or k == "QD_OPERATION_USER"
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], object], timeout: float, interval: float = 0.1, what: str = ""
) -> object:
    """The first true value of `predicate`, polled until `timeout` seconds passed; the
    error then says what was waited for (`what`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - not ready yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what or 'condition'} not met within {timeout}s")
        time.sleep(interval)


def wait_for_http(url: str, timeout: float, auth: tuple[str, str] | None = None) -> httpx.Response:
    def ready() -> httpx.Response | None:
        response = httpx.get(url, auth=auth, timeout=2)
        return response if response.status_code == 200 else None

    return wait_until(ready, timeout)  # type: ignore[return-value]


def processes() -> Iterator[tuple[int, str, list[str]]]:
    """Each live process (Linux): its pid, its command name, and the fields of
    /proc/<pid>/stat that follow the name (the state first, then the parent's pid...)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces; fields after the last ")" are fixed.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        yield int(entry.name), name, stat.rsplit(")", 1)[1].split()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for pid, _, fields in processes():
        tree.setdefault(int(fields[1]), []).append(pid)
    return tree


def descendants(pid: int) -> set[int]:
    tree = _children()
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in tree.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pid: int) -> bool:
    """True when the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def kill_tree(pid: int) -> None:
    for child in descendants(pid) | {pid}:
        try:
            os.kill(child, 9)
        except ProcessLookupError:
            pass


def _reachable_by_others(path: Path) -> bool:
    """Can a user other than the owner (the operation user) reach and run `path`?"""
    resolved = path.resolve()
    if not resolved.exists() or resolved.stat().st_mode & 0o005 != 0o005:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in resolved.parents)


def operation_python() -> str | None:
    """An interpreter the operation user can run: ours, else the system's (on this
    machine ours lives under /root, which other users cannot pass through)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if _reachable_by_others(Path(sys.executable)) and _reachable_by_others(stdlib):
        return sys.executable
    for candidate in ("/usr/bin/python3.11", "/usr/bin/python3", "/usr/local/bin/python3"):
        if _reachable_by_others(Path(candidate)):
            return candidate
    return None
