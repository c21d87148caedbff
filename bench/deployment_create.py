"""PUT /deployments for a blueprint expanding to 10,000 node instances, on SQLite.

Runs the real app in-process (ASGI, no network) on a SQLite file and a private Redis, uploads
a generated blueprint (100 hosts x 99 contained nodes + 100 connected ones), then times the
deployment creation request. Prints the figures; asserts nothing.

    python bench/deployment_create.py [--hosts 100] [--per-host 99] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient  # noqa: E402

from bench.common import in_process_app  # noqa: E402
from manager.embedded import start_redis  # noqa: E402


def blueprint(hosts: int, per_host: int) -> str:
    lines = [
        "tosca_definitions_version: cloudify_dsl_1_4",
        "imports: [cloudify/types/types.yaml]",
        "node_templates:",
        "  host:",
        "    type: cloudify.nodes.Compute",
        "    properties: {agent_config: {install_method: none}}",
        f"    capabilities: {{scalable: {{properties: {{default_instances: {hosts}}}}}}}",
        "  shared:",
        "    type: cloudify.nodes.Root",
    ]
    for i in range(per_host):
        lines += [
            f"  app{i}:",
            "    type: cloudify.nodes.WebServer",
            f"    properties: {{port: {8000 + i}}}",
            "    relationships:",
            "      - {type: cloudify.relationships.contained_in, target: host}",
            "      - {type: cloudify.relationships.connected_to, target: shared}",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--per-host", type=int, default=99)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    instances = args.hosts * (args.per_host + 1) + 1
    with tempfile.TemporaryDirectory() as tmp:
        redis, sock = start_redis(Path(tmp) / "redis")
        try:
            url = f"sqlite:///{tmp}/bench.db"
            app, settings = in_process_app(Path(tmp), url, f"redis+socket://{sock}")
            with TestClient(app) as client:
                client.auth = ("admin", settings.admin_password)
                text = blueprint(args.hosts, args.per_host)
                started = time.perf_counter()
                uploaded = client.put(
                    "/api/v3.1/blueprints/bench",
                    content=text,
                    headers={"Content-Type": "application/yaml"},
                )
                upload_seconds = time.perf_counter() - started
                assert uploaded.json()["state"] == "uploaded", uploaded.json()["error"]
                timings = []
                for round_number in range(args.rounds):
                    started = time.perf_counter()
                    response = client.put(
                        f"/api/v3.1/deployments/d{round_number}", json={"blueprint_id": "bench"}
                    )
                    timings.append(time.perf_counter() - started)
                    assert response.status_code == 201, response.text
        finally:
            redis.terminate()
    print(f"node templates: {args.per_host + 2}, node instances: {instances}")
    print(f"blueprint upload (parse + store): {upload_seconds:.3f} s")
    print(
        f"PUT /deployments: median {statistics.median(timings):.3f} s, "
        f"best {min(timings):.3f} s over {args.rounds} rounds (SQLite)"
    )


if __name__ == "__main__":
    main()
