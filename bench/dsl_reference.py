"""Benchmark of manager.dsl against the reference parser (cloudify-common 7.0.5): parse +
validate + deployment plan of a 1,000-template blueprint (~10,000 node instances).

Ours runs in-process; the reference runs in its cached virtualenv (tests/compat), timed inside
that process so its import time is excluded. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dsl_parse import HEADER  # noqa: E402
from manager.dsl import create_deployment_plan, parse_blueprint  # noqa: E402
from tests.compat.conftest import run_reference, write_standard_types  # noqa: E402
from tests.compat.reference_env import ReferenceUnavailable, reference_python  # noqa: E402


def generate(templates: int = 1000) -> str:
    """Blocks of 10 templates, 100 instances each: a Compute host (×3) carrying web servers
    (×3 per host, contained_in) carrying apps (×3 per web server, connected_to the block's
    database ×3); workers (×5, connected_to the apps, all_to_one); a scaling group (×3) of a
    VM (×2) and a volume, with monitors (×2) contained in the VM; caches (×6, depends_on the
    database); queues (×26). 100 blocks: 1,000 templates, 10,000 instances."""
    lines = list(HEADER)
    groups, policies = ["groups:"], ["policies:"]
    none_agent = "    properties: {agent_config: {install_method: none}}"

    def scale(count: int) -> str:
        return f"    capabilities: {{scalable: {{properties: {{default_instances: {count}}}}}}}"

    for b in range(templates // 10):

        def rel(kind: str, target: str, extra: str = "") -> str:
            return f"      - {{type: cloudify.relationships.{kind}, target: {target}{extra}}}"

        lines += [
            f"  host{b}:",
            "    type: cloudify.nodes.Compute",
            none_agent,
            scale(3),
            f"  web{b}:",
            "    type: cloudify.nodes.WebServer",
            scale(3),
            "    relationships:",
            rel("contained_in", f"host{b}"),
            f"  db{b}:",
            "    type: cloudify.nodes.Database",
            scale(3),
            f"  app{b}:",
            "    type: bench.App",
            scale(3),
            "    properties:",
            "      port: {get_input: port}",
            f"      name: {{concat: [{{get_input: prefix}}, '-{b}']}}",
            "    interfaces:",
            "      cloudify.interfaces.lifecycle:",
            "        configure: {inputs: {retries: 5}}",
            "    relationships:",
            rel("contained_in", f"web{b}"),
            rel("connected_to", f"db{b}"),
            f"  worker{b}:",
            "    type: cloudify.nodes.Root",
            scale(5),
            "    relationships:",
            rel("connected_to", f"app{b}", ", properties: {connection_type: all_to_one}"),
            f"  vm{b}:",
            "    type: cloudify.nodes.Compute",
            none_agent,
            scale(2),
            f"  volume{b}:",
            "    type: cloudify.nodes.Volume",
            f"  monitor{b}:",
            "    type: cloudify.nodes.SoftwareComponent",
            scale(2),
            "    relationships:",
            rel("contained_in", f"vm{b}"),
            f"  cache{b}:",
            "    type: cloudify.nodes.Root",
            scale(6),
            "    relationships:",
            rel("depends_on", f"db{b}"),
            f"  queue{b}:",
            "    type: cloudify.nodes.MessageBusServer",
            scale(26),
        ]
        groups += [f"  pair{b}:", f"    members: [vm{b}, volume{b}]"]
        policies += [
            f"  scale{b}:",
            "    type: cloudify.policies.scaling",
            "    properties: {default_instances: 3}",
            f"    targets: [pair{b}]",
        ]
    return "\n".join(lines + groups + policies) + "\n"


def time_ours(root: Path, repeat: int) -> tuple[list[float], list[float], int]:
    parse_times, plan_times, count = [], [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        plan = parse_blueprint(root, "blueprint.yaml")
        parsed = time.perf_counter()
        deployment = create_deployment_plan(plan, {})
        done = time.perf_counter()
        parse_times.append(parsed - start)
        plan_times.append(done - parsed)
        count = len(deployment["node_instances"])
    return parse_times, plan_times, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--reference-repeat", type=int, default=1, help="runs of the (slow) reference"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bp"
        root.mkdir()
        (root / "blueprint.yaml").write_text(generate(args.templates))
        our_parse, our_plan, our_count = time_ours(root, args.repeat)
        ours = statistics.median(our_parse) + statistics.median(our_plan)
        print(f"templates: {args.templates}, instances: {our_count}")
        print(
            f"quarterdeck  parse {statistics.median(our_parse):7.3f} s   "
            f"deployment plan {statistics.median(our_plan):7.3f} s   total {ours:7.3f} s   "
            f"(median of {args.repeat})"
        )
        try:
            python = reference_python()
        except ReferenceUnavailable as exc:
            print(f"reference unavailable: {exc}")
            return
        resources = Path(tmp) / "resources"
        write_standard_types(resources)
        ref = run_reference(
            python,
            resources,
            {
                "bench": {
                    "path": str(root / "blueprint.yaml"),
                    "inputs": {},
                    "repeat": args.reference_repeat,
                }
            },
            Path(tmp),
        )
        theirs = statistics.median(ref["parse"]) + statistics.median(ref["deployment"])
        print(
            f"reference    parse {statistics.median(ref['parse']):7.3f} s   "
            f"deployment plan {statistics.median(ref['deployment']):7.3f} s   "
            f"total {theirs:7.3f} s   (median of {args.reference_repeat}, "
            f"{ref['instances']} instances)"
        )
        print(f"ratio reference / quarterdeck: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
