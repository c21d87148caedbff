"""Runs workflows with Cloudify's local engine (cloudify-common 7.0.5); executed by the
reference venv, never imports Quarterdeck.

Usage: python local_runner.py REQUEST.json RESULT.json

REQUEST: {"resources": as for reference_runner.py, "blueprint": path, "inputs": {...},
          "runs": [{"workflow": name, "parameters": {...}}]}
RESULT: {"instances": {node id: [runtime properties of each instance]}} after the last run,
        or {"error": text} when a run fails.
"""

import json
import os
import sys
import traceback
import warnings

warnings.simplefilter("ignore")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cloudify.workflows import local  # noqa: E402
from reference_runner import LocalTypesResolver  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    result = {}
    try:
        env = local.init_env(
            request["blueprint"],
            name="local",
            inputs=request["inputs"],
            resolver=LocalTypesResolver(request["resources"]),
        )
        for run in request["runs"]:
            env.execute(run["workflow"], parameters=run.get("parameters") or {}, task_retries=0)
        instances = {}
        for instance in env.storage.get_node_instances():
            instances.setdefault(instance.node_id, []).append(dict(instance.runtime_properties))
        result["instances"] = instances
    except Exception:  # noqa: BLE001 - the test reports it
        result["error"] = traceback.format_exc()
    with open(sys.argv[2], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
