"""Median latency of a no-op operation: warm runner vs a fresh interpreter per operation."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.isolation import Sandbox, operation_sandbox  # noqa: E402
from workers.runners import RunnerPool  # noqa: E402


class NoCallbacks:
    def get_secret(self, key: str) -> Any:
        raise KeyError(key)

    def get_resource(self, path: str) -> bytes:
        raise FileNotFoundError(path)

    def on_log(self, record: Any) -> None:
        pass

    def on_event(self, event: dict[str, Any]) -> None:
        pass


def context(number: int, isolated: bool) -> dict[str, Any]:
    return {
        "operation_id": f"op-{number}",
        "attempt": 1,
        "execution_id": "e",
        "workflow_id": "w",
        "tenant": "default_tenant",
        "blueprint_id": "bp",
        "deployment_id": "dep",
        "operation": {"name": "noop", "retry_number": 0, "max_retries": 0, "relationship": None},
        "task_name": "qd_bench_tasks.noop",
        "implementation": "qd_bench_tasks.noop",
        "plugin": {"name": "bench", "properties": {"isolation": "process"} if isolated else {}},
        "inputs": {},
        "timeout": None,
        "timeout_recoverable": False,
        "node": {"id": "n", "name": "n", "type": "t", "type_hierarchy": [], "properties": {}},
        "instance": {
            "id": "n_1",
            "state": "started",
            "version": 1,
            "runtime_properties": {},
            "host_id": None,
            "relationships": [],
        },
        "source": None,
        "target": None,
        "blueprint_dir": None,
    }


def measure(pool: RunnerPool, python: str, count: int, isolated: bool) -> list[float]:
    samples = []
    callbacks = NoCallbacks()
    for number in range(count):
        started = time.perf_counter()
        outcome = pool.run(python, context(number, isolated), callbacks)
        samples.append(time.perf_counter() - started)
        assert outcome["status"] == "succeeded", outcome
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the runner")
    parser.add_argument("--warm", type=int, default=3000)
    parser.add_argument("--fresh", type=int, default=40)
    parser.add_argument(
        "--operation-user",
        default="",
        help="as root: run the runner as this user, as a worker does (QD_OPERATION_USER)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tasks_dir:
        Path(tasks_dir, "qd_bench_tasks.py").write_text("def noop():\n    return None\n")
        env = dict(os.environ, PYTHONPATH=tasks_dir)
        # Runners get only allow-listed variables: name the one that finds the bench's module.
        sandbox = Sandbox(env_patterns=("PYTHONPATH",), python=args.python)
        if args.operation_user:
            sandbox = operation_sandbox(args.operation_user, "PYTHONPATH", args.python)
            os.chmod(tasks_dir, 0o755)  # the operation user imports the module from there
        with RunnerPool(
            max_runners=2, sdk_root=Path(tasks_dir) / "sdk", env=env, sandbox=sandbox
        ) as pool:
            pool.warm(args.python)
            measure(pool, args.python, 100, isolated=False)  # let caches settle
            warm = statistics.median(measure(pool, args.python, args.warm, isolated=False))
            fresh = statistics.median(measure(pool, args.python, args.fresh, isolated=True))
    print(f"warm runner:        median {warm * 1000:8.3f} ms  ({args.warm} operations)")
    print(f"fresh interpreter:  median {fresh * 1000:8.3f} ms  ({args.fresh} operations)")
    print(f"ratio fresh/warm:   {fresh / warm:8.1f}x")


if __name__ == "__main__":
    main()
