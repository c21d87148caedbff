"""CPU cost of operation contexts: `operation_context.build_many` over an install's operations.

Sets up a real database (PostgreSQL when it answers at 127.0.0.1:5432, else SQLite;
BENCH_SQLITE=1 forces SQLite) and a private Redis, uploads bench/engine_blueprint.py's
blueprint (N nodes), creates the deployment and starts an install in-process (no worker
runs: its operations stay queued). Then it builds the contexts of every operation of the
install, in batches of 16 as a worker's claims hand them, each batch in its own session as
a claim is. A pass starts with an empty context cache (as a new execution does), so it
counts the first load of the deployment's nodes; warm passes repeat it with the cache full.
Prints microseconds per operation, wall and CPU (process time), the best of the repeats.

    python bench/operation_context.py [--nodes 500] [--repeat 5] [--batch 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QD_OPERATION_USER", "")

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import case, select  # noqa: E402

from bench.common import PG, answers, generated_files, in_process_app  # noqa: E402
from bench.engine_blueprint import expected_operations  # noqa: E402
from manager.db import Execution, Operation  # noqa: E402
from manager.db.engine import Database  # noqa: E402
from manager.embedded import start_redis  # noqa: E402
from manager.services import operation_context  # noqa: E402
from manager.settings import Settings  # noqa: E402
from tests.api.uploads import cfy_archive  # noqa: E402
from tests.conftest import _drop_postgres_database, fresh_database_url  # noqa: E402

# The columns a claim's rows carry (manager.orchestration.claims.mark_running); the
# operations not queued yet have attempt 0, and a claimed one has its first attempt (1).
ROW_COLUMNS = (
    Operation.id,
    Operation.name,
    Operation.node_instance_id,
    Operation.parameters,
    case((Operation.attempt < 1, 1), else_=Operation.attempt).label("attempt"),
    Operation.queue,
    Operation.max_retries,
    Operation.timeout,
    Operation.started_at,
)


def start_install(client: TestClient, root: Path, nodes: int) -> str:
    """Upload the generated blueprint, deploy it and start its install: the execution's id."""
    name = f"ctx-{uuid.uuid4().hex[:6]}"
    main_file, generated = generated_files(root / "bp", nodes)
    files: dict[str, str | bytes] = dict(generated)
    params = '{"visibility": "tenant", "async_upload": true, "application_file_name": "%s"}'
    response = client.put(
        f"/api/v3.1/blueprints/{name}",
        data={"params": params % main_file},
        files={"blueprint_archive": ("filename", cfy_archive(files), "text/plain")},
    )
    assert response.status_code in (200, 201), response.text
    response = client.put(f"/api/v3.1/deployments/{name}", json={"blueprint_id": name})
    assert response.status_code in (200, 201), response.text
    response = client.post(
        "/api/v3.1/executions", json={"deployment_id": name, "workflow_id": "install"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def operation_rows(database: Database, execution_id: str) -> list[Any]:
    with database.transaction(write=False) as session:
        return list(
            session.execute(
                select(*ROW_COLUMNS)
                .where(Operation.execution_id == execution_id, Operation.type == "operation")
                .order_by(Operation.id)
            ).all()
        )


def one_pass(
    database: Database,
    settings: Settings,
    build: Callable[..., Any],
    execution_id: str,
    rows: list[Any],
    batch: int,
) -> tuple[float, float]:
    """Build every row's context in batches, each in a session of its own: (wall, CPU) s."""
    wall = cpu = 0.0
    for start in range(0, len(rows), batch):
        with database.transaction() as session:
            execution = session.get(Execution, execution_id)
            assert execution is not None
            claimed = [(row, execution) for row in rows[start : start + batch]]
            began, began_cpu = time.perf_counter(), time.process_time()
            built = build(session, settings, claimed)
            wall += time.perf_counter() - began
            cpu += time.process_time() - began_cpu
            failed = [c for c in built if isinstance(c, operation_context.ContextError)]
            assert not failed, failed[0]
    return wall, cpu


def cache_clearer(database: Database) -> Callable[[], None]:
    """How to empty the context cache of this version of the code (the version before
    manager.services.context_cache kept it in a module)."""
    old = getattr(operation_context, "_shared", None)
    if old is not None:
        return old.clear  # type: ignore[no-any-return]
    from manager.services import context_cache

    return lambda: context_cache.attach(database.factories)


def profile(*args: Any) -> None:
    """cProfile's 25 most expensive functions (their own time and below) of one pass."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(one_pass, *args)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--profile", action="store_true", help="also print cProfile's top functions of a warm pass"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qd-ctx-bench-"))
    backend = "postgresql" if answers(5432) and not os.environ.get("BENCH_SQLITE") else "sqlite"
    import tests.conftest as shared

    shared.POSTGRES_URL = PG if backend == "postgresql" else ""
    redis_process, sock = start_redis(work / "redis")
    url, db_name = fresh_database_url(backend, work)
    app, settings = in_process_app(work / "data", url, f"redis+socket://{sock}")
    database = Database(url)
    try:
        with TestClient(app) as client:
            client.auth = ("admin", settings.admin_password)
            execution_id = start_install(client, work, args.nodes)
            rows = operation_rows(database, execution_id)
            assert len(rows) == expected_operations(args.nodes), len(rows)
            clear = cache_clearer(database)
            build = operation_context.build_many
            cold: list[tuple[float, float]] = []
            warm: list[tuple[float, float]] = []
            for _ in range(args.repeat):
                clear()
                cold.append(one_pass(database, settings, build, execution_id, rows, args.batch))
                warm.append(one_pass(database, settings, build, execution_id, rows, args.batch))
            if args.profile:
                profile(database, settings, build, execution_id, rows, args.batch)
    finally:
        database.dispose()
        if db_name:
            _drop_postgres_database(db_name)
        redis_process.terminate()

    count = len(rows)
    print(f"database: {backend}; nodes: {args.nodes}; operations: {count}; batch: {args.batch}")
    for label, passes in (("new execution", cold), ("warm cache", warm)):
        walls = sorted(1e6 * w / count for w, _ in passes)
        cpus = sorted(1e6 * c / count for _, c in passes)
        print(
            f"{label:>14}: wall {walls[0]:.0f} us/op (median {walls[len(walls) // 2]:.0f}), "
            f"CPU {cpus[0]:.0f} us/op (median {cpus[len(cpus) // 2]:.0f})"
        )


if __name__ == "__main__":
    main()
