"""Runs cloudify-common's dsl_parser on a batch of blueprints; executed by the reference venv.

Usage: python reference_runner.py REQUEST.json RESULT.json

REQUEST: {"resources": a resources base holding cloudify/types/types{,_1_4,_1_3}.yaml,
          "cases": [{"name", "path", "inputs"}], "bench": {"path", "inputs", "repeat"}?}
RESULT: {name: {"plan": <deployment plan>} | {"stage": "parse" | "deployment",
         "error_type", "message"}}, or for "bench" {"parse": [s...], "deployment": [s...]}.

Standard library and dsl_parser only: this file never imports Quarterdeck. No network: the
standard types URLs and `resource:` imports are served from `resources`, anything else remote
fails the import.
"""

import json
import os
import re
import sys
import time
import warnings

warnings.simplefilter("ignore")

from dsl_parser import exceptions, parser, tasks  # noqa: E402
from dsl_parser.import_resolver.abstract_import_resolver import read_import  # noqa: E402
from dsl_parser.import_resolver.default_import_resolver import (  # noqa: E402
    DefaultImportResolver,
)

_TYPES_URL = re.compile(
    r"^(?:https?://(?:www\.)?(?:getcloudify\.org|cloudify\.co)/spec/cloudify/[^/]+/types\.yaml"
    r"|resource:/?cloudify/types/types(?:_\d+_\d+)?\.yaml)$"
)


class LocalTypesResolver(DefaultImportResolver):
    """Serves the standard types from Quarterdeck's bundled file (in the variant the main
    blueprint's version selects); refuses every other remote import."""

    def __init__(self, resources):
        super().__init__(rules=[], fallback=False)
        self.resources = resources

    def _variant(self, dsl_version):
        name = {"1_3": "types_1_3.yaml", "1_4": "types_1_4.yaml"}.get(
            dsl_version or "", "types.yaml"
        )
        with open(os.path.join(self.resources, "cloudify", "types", name)) as f:
            return f.read()

    def fetch_import(self, import_url, **kwargs):
        if _TYPES_URL.match(import_url):
            return self._variant(kwargs.get("dsl_version"))
        if import_url.startswith("file:"):
            return read_import(import_url)
        raise exceptions.DSLParsingLogicException(
            13, f"Import failed: {import_url} is not available offline"
        )


def _jsonable(value):
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def _error(stage, exc):
    return {"stage": stage, "error_type": type(exc).__name__, "message": str(exc)}


def run_case(case, resolver):
    try:
        plan = parser.parse_from_path(
            case["path"], resolver=resolver, resources_base_path=resolver.resources
        )
    except Exception as exc:  # noqa: BLE001 - every refusal is a result
        return _error("parse", exc)
    try:
        deployment = tasks.prepare_deployment_plan(plan, inputs=dict(case.get("inputs") or {}))
    except Exception as exc:  # noqa: BLE001
        return _error("deployment", exc)
    return {"plan": deployment}


def bench(spec, resolver):
    times = {"parse": [], "deployment": [], "instances": 0}
    for _ in range(spec.get("repeat", 1)):
        start = time.perf_counter()
        plan = parser.parse_from_path(
            spec["path"], resolver=resolver, resources_base_path=resolver.resources
        )
        parsed = time.perf_counter()
        deployment = tasks.prepare_deployment_plan(plan, inputs=dict(spec.get("inputs") or {}))
        done = time.perf_counter()
        times["parse"].append(parsed - start)
        times["deployment"].append(done - parsed)
        times["instances"] = len(deployment["node_instances"])
    return times


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    resolver = LocalTypesResolver(request["resources"])
    # Relative imports are first looked up in the working directory (dsl.md §4.1).
    os.chdir(request["resources"])
    if "bench" in request:
        result = bench(request["bench"], resolver)
    else:
        result = {case["name"]: run_case(case, resolver) for case in request["cases"]}
    with open(sys.argv[2], "w") as f:
        json.dump(result, f, default=_jsonable)


if __name__ == "__main__":
    main()
