"""Benchmark of manager.dsl: parse+validate+plan of a 1,000-template blueprint, then
create_deployment_plan (10,000 node instances). Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manager.dsl import parse_blueprint  # noqa: E402
from manager.dsl.instances import create_deployment_plan  # noqa: E402

# The start of both benchmark blueprints: inputs, a plugin and an application type.
HEADER = [
    "tosca_definitions_version: cloudify_dsl_1_4",
    "imports: [cloudify/types/types.yaml]",
    "inputs:",
    "  port: {type: integer, default: 8080}",
    "  prefix: {type: string, default: svc}",
    "plugins:",
    "  demo: {executor: central_deployment_agent, package_name: demo-plugin}",
    "node_types:",
    "  bench.App:",
    "    derived_from: cloudify.nodes.ApplicationModule",
    "    properties:",
    "      port: {type: integer, default: 80}",
    "      name: {type: string}",
    "    interfaces:",
    "      cloudify.interfaces.lifecycle:",
    "        create: demo.tasks.create",
    "        configure:",
    "          implementation: demo.tasks.configure",
    "          inputs:",
    "            retries: {type: integer, default: 3}",
    "node_templates:",
]


def generate(templates: int = 1000) -> str:
    """100 hosts × 2 instances, each carrying 9 kinds of software (×5 instances on average),
    wired with contained_in and connected_to: 1,000 templates, 10,000 instances."""
    lines = list(HEADER)
    hosts = templates // 10
    for h in range(hosts):
        lines += [
            f"  host{h}:",
            "    type: cloudify.nodes.Compute",
            "    capabilities: {scalable: {properties: {default_instances: 2}}}",
            "    properties: {agent_config: {install_method: none}}",
        ]
        for s in range(9):
            count = 5 if s != 8 else 9
            lines += [
                f"  app{h}_{s}:",
                "    type: bench.App",
                f"    capabilities: {{scalable: {{properties: {{default_instances: {count}}}}}}}",
                "    properties:",
                "      port: {get_input: port}",
                f"      name: {{concat: [{{get_input: prefix}}, '-{h}-{s}']}}",
                "    interfaces:",
                "      cloudify.interfaces.lifecycle:",
                "        start:",
                "          implementation: demo.tasks.start",
                "          inputs: {ip: {get_attribute: [SELF, ip]}}",
                "    relationships:",
                f"      - {{type: cloudify.relationships.contained_in, target: host{h}}}",
            ]
            if s > 0:
                lines.append(
                    f"      - {{type: cloudify.relationships.connected_to, "
                    f"target: app{h}_{s - 1}, properties: "
                    f"{{connection_type: all_to_one}}}}"
                )
    lines += ["outputs:", "  first: {value: {get_attribute: [host0, ip]}}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--templates", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "blueprint.yaml").write_text(generate(args.templates))
        parse_times, deploy_times = [], []
        plan = instances = None
        for _ in range(args.repeat):
            start = time.perf_counter()
            plan = parse_blueprint(root, "blueprint.yaml")
            parse_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            instances = create_deployment_plan(plan, {})
            deploy_times.append(time.perf_counter() - start)
    assert plan is not None and instances is not None
    print(f"templates: {len(plan['nodes'])}, node instances: {len(instances['node_instances'])}")
    print(
        f"parse+validate+plan: median {statistics.median(parse_times):.3f} s, "
        f"min {min(parse_times):.3f} s ({args.repeat} runs)"
    )
    print(
        f"create_deployment_plan: median {statistics.median(deploy_times):.3f} s, "
        f"min {min(deploy_times):.3f} s ({args.repeat} runs)"
    )


if __name__ == "__main__":
    main()
