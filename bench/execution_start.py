"""CPU of an execution's start: `executions.start` of an install, in process, no HTTP.

Sets up a real database (PostgreSQL when 127.0.0.1:5432 answers, unless BENCH_SQLITE=1, else
SQLite), uploads bench/engine_blueprint.py's generated blueprint through the real app and
creates one deployment per round from it. Then, for each round, times one transaction
that calls `executions.start` (install) on a fresh deployment and commits: wall time and
this process's CPU time. The operations it queues are never published (the outbox is
dropped), so no workers or broker traffic are involved. Prints the median of each.

    python bench/execution_start.py [--nodes 500] [--rounds 7] [--profile FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.common import PG, answers, generated_files, in_process_app  # noqa: E402
from bench.engine_blueprint import expected_operations  # noqa: E402
from manager.db import User  # noqa: E402
from manager.db.engine import Database  # noqa: E402
from manager.embedded import start_redis  # noqa: E402
from manager.orchestration.outbox import Outbox  # noqa: E402
from manager.schemas.executions import ExecutionStart  # noqa: E402
from manager.services import executions  # noqa: E402
from manager.services.identity import act_in_tenant  # noqa: E402
from manager.settings import Settings  # noqa: E402
from tests.api.uploads import cfy_archive  # noqa: E402


def upload_and_deploy(client: TestClient, work: Path, nodes: int, deployments: int) -> None:
    """The generated blueprint `bench`, and deployments d0, d1, ... of it."""
    _, generated = generated_files(work / "bp", nodes)
    files: dict[str, str | bytes] = dict(generated)
    response = client.put(
        "/api/v3.1/blueprints/bench",
        data={"params": '{"visibility": "tenant", "application_file_name": "blueprint.yaml"}'},
        files={"blueprint_archive": ("bench.tar.gz", cfy_archive(files), "text/plain")},
    )
    assert response.status_code in (200, 201), response.text
    for number in range(deployments):
        response = client.put(f"/api/v3.1/deployments/d{number}", json={"blueprint_id": "bench"})
        assert response.status_code == 201, response.text


def one_start(
    database: Database, settings: Settings, deployment_id: str, nodes: int
) -> tuple[float, float]:
    """Wall and CPU milliseconds of one install's start, in one transaction with its commit."""
    outbox = Outbox()
    wall, cpu = time.perf_counter(), time.process_time()
    with database.transaction() as session:
        user = session.scalar(select(User).where(User.username == "admin"))
        assert user is not None
        principal = act_in_tenant(session, user, "default_tenant")
        body = ExecutionStart(deployment_id=deployment_id, workflow_id="install")
        execution = executions.start(session, settings, principal, body, outbox)
        total = execution.total_operations
    wall_ms = 1000 * (time.perf_counter() - wall)
    cpu_ms = 1000 * (time.process_time() - cpu)
    assert total == expected_operations(nodes), total
    outbox.drop()  # nothing is published: no worker would run it
    return wall_ms, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", help="write a cProfile of the timed rounds to this file")
    args = parser.parse_args()
    backend = "postgresql" if answers(5432) and not os.environ.get("BENCH_SQLITE") else "sqlite"
    import tests.conftest as shared

    shared.POSTGRES_URL = PG if backend == "postgresql" else ""
    with tempfile.TemporaryDirectory(prefix="qd-start-") as tmp:
        work = Path(tmp)
        redis = None
        if answers(6379):
            broker = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '3')}"
        else:
            redis, sock = start_redis(work / "redis")
            broker = f"redis+socket://{sock}"
        url, db_name = shared.fresh_database_url(backend, work)
        try:
            app, settings = in_process_app(work, url, broker)
            database = Database(url)
            with TestClient(app) as client:
                client.auth = ("admin", settings.admin_password)
                upload_and_deploy(client, work, args.nodes, args.rounds + 1)
            # One untimed start first: imports and statement caches warm up.
            one_start(database, settings, "d0", args.nodes)
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            timings = [
                one_start(database, settings, f"d{number}", args.nodes)
                for number in range(1, args.rounds + 1)
            ]
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            database.dispose()
        finally:
            if db_name:
                shared._drop_postgres_database(db_name)
            if redis is not None:
                redis.terminate()
    walls, cpus = [t[0] for t in timings], [t[1] for t in timings]
    print(
        f"database: {backend}; nodes: {args.nodes}; operations: {expected_operations(args.nodes)}"
    )
    print(
        f"executions.start + commit over {args.rounds} rounds: "
        f"median {statistics.median(walls):.0f} ms wall, {statistics.median(cpus):.0f} ms CPU "
        f"(best {min(walls):.0f} ms wall, {min(cpus):.0f} ms CPU)"
    )


if __name__ == "__main__":
    main()
