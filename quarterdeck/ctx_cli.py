"""The `ctx` command for scripts: sends its arguments to the worker's per-operation socket.

Self-contained on purpose (standard library only, no package imports): the worker writes
this file as the `ctx` executable and runs it with `python -IS` for a fast start.
"""

import json
import os
import socket
import sys
from typing import Any


def _parse(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    options: dict[str, Any] = {"json": False, "timeout": 30.0, "socket": None, "prefix": "@"}
    args: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if args:
            args.append(arg)
        elif arg in ("-j", "--json-output"):
            options["json"] = True
        elif arg in ("-t", "--timeout"):
            index += 1
            options["timeout"] = float(argv[index])
        elif arg == "--socket-url":
            index += 1
            options["socket"] = argv[index]
        elif arg == "--json-arg-prefix":
            index += 1
            options["prefix"] = argv[index]
        else:
            args.append(arg)
        index += 1
    return options, args


def _decode(arg: str, prefix: str) -> Any:
    if prefix and arg.startswith(prefix):
        return json.loads(arg[len(prefix) :])
    return arg


def request(path: str, args: list[Any], timeout: float) -> dict[str, Any]:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    client.connect(path)
    with client:
        client.sendall(json.dumps({"args": args}).encode() + b"\n")
        chunks = []
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                break
    return json.loads(b"".join(chunks))


def main(argv: list[str] | None = None) -> int:
    options, raw_args = _parse(sys.argv[1:] if argv is None else argv)
    path = options["socket"] or os.environ.get("QD_CTX_SOCKET")
    if not path:
        sys.stderr.write("ctx: QD_CTX_SOCKET is not set (not inside a script operation)\n")
        return 2
    if path.startswith("unix://"):
        path = path[len("unix://") :]
    args = [_decode(arg, options["prefix"]) for arg in raw_args]
    response = request(path, args, options["timeout"])
    kind = response.get("type")
    payload = response.get("payload")
    if kind == "result":
        # Cloudify prints str(result), and nothing at all for a falsy one (0, "", None).
        text = json.dumps(payload) if options["json"] else (str(payload) if payload else "")
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    if kind == "stop_operation":
        sys.stderr.write(str((payload or {}).get("message") or "") + "\n")
        return 1
    error = payload or {}
    sys.stderr.write(
        f"{error.get('traceback') or ''}{error.get('type', 'Error')}: {error.get('message')}\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
