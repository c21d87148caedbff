"""The reference half of the engine benchmark: cloudify-common 7.0.5's local workflow runner
installing the blueprint of bench/engine_blueprint.py (no-op plugin operations).

The reference runs in its cached virtualenv (tests/compat/reference_env.py), in a subprocess
that executes this same file with `--child`; the no-op plugin is made importable there with
PYTHONPATH (the cached venv is not touched). Only `env.execute('install', ...)` is timed:
parsing and the deployment plan (`init_env`) are not. Operations are counted by wrapping the
plugin function, and checked against `expected_operations`. The runner's events, which it
prints to stdout, go to a file. Prints figures; asserts nothing.

    python bench/engine_reference.py [--nodes 500] [--threads N] [--storage memory|file]
                                     [--repeat 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHILD_TIMEOUT = 1800
ENGINE = "cloudify-common 7.0.5 local"


# --- in the reference venv: standard library and cloudify-common only -------------------------
def _child(request_file: str, result_file: str) -> None:
    import threading
    import warnings

    warnings.simplefilter("ignore")
    import noop_plugin.tasks
    from cloudify.workflows import local
    from cloudify.workflows.workflow_context import DEFAULT_LOCAL_TASK_THREAD_POOL_SIZE

    request = json.loads(Path(request_file).read_text())
    threads = request["threads"] or DEFAULT_LOCAL_TASK_THREAD_POOL_SIZE
    executed = [0]
    lock = threading.Lock()
    plain_op = noop_plugin.tasks.op

    def counted_op(**kwargs: Any) -> Any:
        with lock:
            executed[0] += 1
        return plain_op(**kwargs)

    # The dispatcher looks the function up by name for every task, so this wrapper is run.
    noop_plugin.tasks.op = counted_op
    # Relative imports are looked up in the working directory first: the standard types.
    os.chdir(request["blueprint_dir"])
    runs = []
    for number in range(request["repeat"]):
        storage = (
            local.FileStorage(os.path.join(request["scratch"], f"storage{number}"))
            if request["storage"] == "file"
            else local.InMemoryStorage()
        )
        started = time.perf_counter()
        env = local.init_env("blueprint.yaml", name=f"bench{number}", storage=storage)
        prepared = time.perf_counter()
        executed[0] = 0
        cpu_before = time.process_time()
        env.execute("install", task_retries=0, task_thread_pool_size=threads)
        seconds = time.perf_counter() - prepared
        cpu = time.process_time() - cpu_before
        states: dict[str, int] = {}
        for instance in env.storage.get_node_instances():
            states[instance.state] = states.get(instance.state, 0) + 1
        runs.append(
            {
                "init_env_seconds": prepared - started,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "operations": executed[0],
                "instance_states": states,
            }
        )
    Path(result_file).write_text(json.dumps({"threads": threads, "runs": runs}))


# --- in our venv -------------------------------------------------------------------------------
def run_reference(
    nodes: int, threads: int | None, storage: str, repeat: int, workdir: Path
) -> dict[str, Any]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench.engine_blueprint import expected_operations, generate
    from tests.compat.reference_env import reference_python

    python = reference_python()  # raises ReferenceUnavailable, with the reason
    blueprint_dir = workdir / "blueprint"
    generate(blueprint_dir, nodes, flavour="reference")
    request_file, result_file = workdir / "request.json", workdir / "result.json"
    events_file = workdir / "events.log"
    request_file.write_text(
        json.dumps(
            {
                "blueprint_dir": str(blueprint_dir),
                "scratch": str(workdir),
                "threads": threads,
                "storage": storage,
                "repeat": repeat,
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(blueprint_dir / "plugins" / "noop")}
    env.pop("VIRTUAL_ENV", None)
    with open(events_file, "w") as events:
        done = subprocess.run(
            [
                str(python),
                str(Path(__file__).resolve()),
                "--child",
                str(request_file),
                str(result_file),
            ],
            stdout=events,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=CHILD_TIMEOUT,
        )
    if done.returncode != 0:
        raise RuntimeError(f"reference run failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(result_file.read_text())
    runs = result["runs"]
    seconds = statistics.median(run["seconds"] for run in runs)
    operations = runs[0]["operations"]
    with open(events_file) as events:
        event_lines = sum(1 for _ in events)
    return {
        "engine": ENGINE,
        "storage": storage,
        "threads": result["threads"],
        "nodes": nodes,
        "operations": operations,
        "expected_operations": expected_operations(nodes),
        "seconds": seconds,
        "operations_per_second": operations / seconds,
        "cpu_seconds": statistics.median(run["cpu_seconds"] for run in runs),
        "init_env_seconds": statistics.median(run["init_env_seconds"] for run in runs),
        "repeat": repeat,
        "all_seconds": [run["seconds"] for run in runs],
        "instance_states": runs[0]["instance_states"],
        "event_lines": event_lines // repeat,
    }


def table(figures: dict[str, Any]) -> str:
    """A Markdown table row, with its header, for README figures."""
    cpu_share = figures["cpu_seconds"] / figures["seconds"]
    header = (
        "| engine | nodes | operations | workers | install s | operations/s | CPU s (share) |\n"
        "|---|---:|---:|---|---:|---:|---:|"
    )
    row = (
        f"| {figures['engine']} ({figures['storage']} storage) | {figures['nodes']} "
        f"| {figures['operations']} | {figures['threads']} threads, 1 process "
        f"| {figures['seconds']:.2f} | {figures['operations_per_second']:.0f} "
        f"| {figures['cpu_seconds']:.2f} ({cpu_share:.0%} of one core) |"
    )
    return f"{header}\n{row}"


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument(
        "--threads", type=int, default=None, help="task_thread_pool_size (default: the runner's, 8)"
    )
    parser.add_argument(
        "--storage",
        choices=("memory", "file"),
        default="memory",
        help="init_env's InMemoryStorage (its default) or FileStorage (what `cfy local` uses)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="installs, each on a fresh env")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="engine-reference-") as tmp:
        try:
            figures = run_reference(args.nodes, args.threads, args.storage, args.repeat, Path(tmp))
        except RuntimeError as exc:  # ReferenceUnavailable, or the run failed
            sys.exit(f"engine_reference: {exc}")
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(table(figures))
    print(
        f"\n{figures['operations']} operations counted, {figures['expected_operations']} "
        f"expected; instance states {figures['instance_states']}; "
        f"{figures['event_lines']} event lines; init_env (not timed) "
        f"{figures['init_env_seconds']:.2f} s; median of {figures['repeat']}"
    )


if __name__ == "__main__":
    main()
