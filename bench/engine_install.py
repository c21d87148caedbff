"""Install throughput of our engine: a generated N-node blueprint of no-op plugin operations.

Starts a real API and two Celery worker processes (one `quarterdeck worker --concurrency 2`)
on PostgreSQL and Redis when they answer at the usual local ports (else SQLite and a private
Redis), uploads bench/engine_blueprint.py's blueprint, creates the deployment, and times the
install execution from the POST until the execution is terminated. Prints operations per
second and the API's share of the CPU time spent by the API and the workers.

    python bench/engine_install.py [--nodes 500] [--workers 1] [--concurrency 2] [--reference]

With `--reference`, the same blueprint then goes through cloudify-common 7.0.5's local
workflow runner (bench/engine_reference.py, in memory) and the ratio of the two is printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The production default, which the test session (tests.conftest, imported below) turns off.
OPERATION_USER = os.environ.get("QD_OPERATION_USER", "quarterdeck-op")

from bench.common import PG, answers, generated_files  # noqa: E402
from bench.engine_blueprint import expected_operations  # noqa: E402
from manager.embedded import start_redis  # noqa: E402
from tests.conftest import _drop_postgres_database, fresh_database_url  # noqa: E402
from tests.engine.stack import Stack  # noqa: E402
from tests.support import descendants, operation_python, processes  # noqa: E402

os.environ["QD_OPERATION_USER"] = OPERATION_USER


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live children."""
    total = 0.0
    for each in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def services_cpu() -> dict[str, float]:
    """CPU seconds used so far by every process of the database and Redis servers on this
    machine (by process name), to show what the install costs outside our processes."""
    names = {"postgres": "postgres", "redis-server": "redis"}
    total = dict.fromkeys(names.values(), 0.0)
    for _, name, fields in processes():
        if name in names:
            ticks = int(fields[11]) + int(fields[12])
            total[names[name]] += ticks / os.sysconf("SC_CLK_TCK")
    return total


def machine_idle() -> float:
    """Idle CPU seconds of the whole machine so far (all cores)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (fields[3] + fields[4]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def bench_stack(prefix: str) -> Iterator[tuple[Stack, str]]:
    """An API (no workers yet) on PostgreSQL and Redis when they answer at their usual local
    ports (BENCH_SQLITE=1: SQLite), else SQLite and a private Redis; torn down after."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    settings: dict[str, str] = {}
    if os.geteuid() == 0 and OPERATION_USER:
        # Operations run as that user: it must pass through to the venvs in the data dir,
        # and run an interpreter (ours may live under /root).
        os.chmod(work, 0o711)
        python = operation_python()
        if python is None:
            raise SystemExit("no interpreter the operation user can run: set QD_OPERATION_USER=")
        settings["operation_python"] = python
    backend = "postgresql" if answers(5432) and not os.environ.get("BENCH_SQLITE") else "sqlite"
    import tests.conftest as shared

    shared.POSTGRES_URL = PG if backend == "postgresql" else ""
    redis_process = None
    if answers(6379):
        # A database of its own (10-15; the tests use 9), so benches and tests running side
        # by side don't take each other's tasks off the shared queue name. BENCH_REDIS_DB
        # chooses it (two benches run side by side need two).
        number = os.environ.get("BENCH_REDIS_DB") or 10 + os.getpid() % 6
        redis_url = f"redis://127.0.0.1:6379/{number}"
    else:
        redis_process, sock = start_redis(work / "redis")
        redis_url = f"redis+socket://{sock}"
    url, db_name = fresh_database_url(backend, work)
    stack = Stack(
        work,
        url,
        redis_url,
        log_level=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        task_retries="0",
        lease_seconds="30",
        redelivery_seconds="60",
        watchdog_interval="2",
        **settings,
    )
    try:
        stack.start(workers=0)
        yield stack, backend
    finally:
        stack.stop()
        if db_name:
            _drop_postgres_database(db_name)
        if redis_process is not None:
            redis_process.terminate()


def upload_generated(stack: Stack, blueprint_id: str, nodes: int) -> None:
    _, files = generated_files(stack.root / "bp", nodes)
    stack.upload(blueprint_id, files)


def _profile(pid: int, variable: str = "BENCH_PYSPY") -> subprocess.Popen[bytes] | None:
    """BENCH_PYSPY=<file>: sample the API process with py-spy (BENCH_PYSPY_BIN, else the one
    on PATH) during the install, writing collapsed stacks to that file. BENCH_PYSPY_WORKER=
    <file> does the same for the first worker and its pool processes."""
    target = os.environ.get(variable)
    if not target:
        return None
    binary = os.environ.get("BENCH_PYSPY_BIN", "py-spy")
    command = [
        binary,
        "record",
        "-p",
        str(pid),
        "-r",
        "250",
        "-f",
        "raw",
        "--gil",
        "--function",
        *(["--subprocesses"] if variable == "BENCH_PYSPY_WORKER" else []),
        "-o",
        target,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument(
        "--reference", action="store_true", help="also run the reference engine; print the ratio"
    )
    args = parser.parse_args()

    with bench_stack("qd-bench-") as (stack, backend):
        if args.api_workers > 1:
            assert stack.api is not None
            stack.kill(stack.api)
            stack.start_api("--workers", str(args.api_workers))
        for _ in range(args.workers):
            stack.start_worker("--concurrency", str(args.concurrency))
        name = f"bench-{uuid.uuid4().hex[:6]}"
        upload_generated(stack, name, args.nodes)
        stack.deploy(name, name)
        time.sleep(2)  # workers connected
        assert stack.api is not None
        processes = {
            "api": stack.api.pid,
            **{f"worker{i}": w.pid for i, w in enumerate(stack.workers)},
        }
        before = {k: cpu_seconds(v) for k, v in processes.items()}
        services_before, idle_before = services_cpu(), machine_idle()
        spies = [_profile(stack.api.pid), _profile(stack.workers[0].pid, "BENCH_PYSPY_WORKER")]
        began = time.perf_counter()
        execution = stack.execute(name, "install", wait=False)
        execution = stack.wait(execution["id"], timeout=1800)
        elapsed = time.perf_counter() - began
        after = {k: cpu_seconds(v) for k, v in processes.items()}
        services_after, idle_after = services_cpu(), machine_idle()
        for spy in spies:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait()
    assert execution["status"] == "terminated", execution["error"]
    operations = execution["finished_operations"]
    assert operations == expected_operations(args.nodes), operations
    used = {k: after[k] - before[k] for k in processes}
    total_cpu = sum(used.values())
    print(f"database: {backend}; redis: {stack.redis_url.split('://')[0]}")
    separate = os.geteuid() == 0 and OPERATION_USER
    print(f"operations run as: {OPERATION_USER if separate else 'the worker user'}")
    print(
        f"nodes: {args.nodes}; operations: {operations}; workers: "
        f"{args.workers} x concurrency {args.concurrency}"
    )
    print(f"install: {elapsed:.2f} s; {operations / elapsed:.0f} operations/s end to end")
    print(
        f"CPU: api {used['api']:.1f} s, workers {total_cpu - used['api']:.1f} s; "
        f"API share {100 * used['api'] / total_cpu:.0f}%"
    )
    services = {k: services_after[k] - services_before[k] for k in services_after}
    idle = idle_after - idle_before
    print(
        f"CPU outside: postgres {services['postgres']:.1f} s, redis {services['redis']:.1f} s; "
        f"machine idle {idle:.1f} s of {elapsed * (os.cpu_count() or 1):.1f} s"
    )
    if args.reference:
        from bench.engine_reference import run_reference

        with tempfile.TemporaryDirectory(prefix="engine-reference-") as tmp:
            reference = run_reference(args.nodes, None, "memory", 1, Path(tmp))
        ours = operations / elapsed
        theirs = reference["operations_per_second"]
        print(
            f"reference ({reference['engine']}, in memory, {reference['threads']} threads): "
            f"{reference['seconds']:.2f} s; {theirs:.0f} operations/s; "
            f"ours / reference = {ours / theirs:.2f}"
        )


if __name__ == "__main__":
    main()
