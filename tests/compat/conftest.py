"""The blueprint corpus, and both implementations' results on it (one reference run per session).

Each case is `blueprints/<name>/` holding `blueprint.yaml` (plus imported files and scripts)
and `case.yaml`:

    about: what the case covers
    expect: valid | refused_at_parse | refused_at_deployment     (default valid)
    inputs: {...}                                                (deployment inputs)
    reference_error: text the reference's refusal must contain   (checks the case's intent)
"""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from manager.dsl import BlueprintInvalid, DslError, create_deployment_plan, parse_blueprint
from manager.dsl.loader import plain
from manager.dsl.resolver import standard_types

from .cfy_env import cfy_venv_bin
from .cfy_harness import PASSWORD, Cfy, Server, start_server
from .known_discrepancies import known_reason
from .reference_env import ReferenceUnavailable, reference_python

CORPUS = Path(__file__).parent / "blueprints"
RUNNER = Path(__file__).parent / "reference_runner.py"
REFERENCE_TIMEOUT = 600
_VARIANTS = {(1, 5): "types.yaml", (1, 4): "types_1_4.yaml", (1, 3): "types_1_3.yaml"}


@dataclass(frozen=True)
class Case:
    name: str
    directory: Path
    about: str = ""
    expect: str = "valid"
    inputs: dict[str, Any] = field(default_factory=dict)
    reference_error: str | None = None

    @property
    def main(self) -> Path:
        return self.directory / "blueprint.yaml"


def load_cases() -> list[Case]:
    cases = []
    for directory in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        meta = yaml.safe_load((directory / "case.yaml").read_text()) or {}
        unknown = set(meta) - {"about", "expect", "inputs", "reference_error"}
        assert not unknown, f"{directory.name}/case.yaml: unknown keys {unknown}"
        case = Case(name=directory.name, directory=directory, **meta)
        assert case.expect in ("valid", "refused_at_parse", "refused_at_deployment"), case
        cases.append(case)
    return cases


CASES = load_cases()


def write_standard_types(resources: Path) -> None:
    """Our bundled standard types, in the variant files the reference looks up for each
    DSL version (`cloudify/types/types_1_3.yaml`, ...), under a resources base."""
    target = resources / "cloudify" / "types"
    target.mkdir(parents=True, exist_ok=True)
    for version, name in _VARIANTS.items():
        doc = plain(standard_types(version))
        (target / name).write_text(yaml.safe_dump(doc, sort_keys=False))


def run_reference(python: Path, resources: Path, request: dict[str, Any], workdir: Path) -> Any:
    """Runs reference_runner.py in the reference venv; returns its JSON result."""
    request_file, result_file = workdir / "request.json", workdir / "result.json"
    request_file.write_text(json.dumps({"resources": str(resources), **request}))
    done = subprocess.run(
        [str(python), str(RUNNER), str(request_file), str(result_file)],
        capture_output=True,
        text=True,
        timeout=REFERENCE_TIMEOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"reference runner failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    return json.loads(result_file.read_text())


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def run_ours(case: Case) -> dict[str, Any]:
    """Same result shape as reference_runner.run_case, from manager.dsl in-process."""

    def error(stage: str, exc: BaseException, text: str | None = None) -> dict[str, Any]:
        return {
            "stage": stage,
            "error_type": type(exc).__name__,
            "message": text if text is not None else str(exc),
        }

    try:
        plan = parse_blueprint(case.directory, "blueprint.yaml")
    except BlueprintInvalid as exc:
        return error("parse", exc)
    except Exception as exc:  # noqa: BLE001 - a crash is a result to report
        return error("crash", exc, traceback.format_exc())
    try:
        deployment = create_deployment_plan(plan, dict(case.inputs))
    except DslError as exc:
        return error("deployment", exc)
    except Exception as exc:  # noqa: BLE001
        return error("crash", exc, traceback.format_exc())
    combined = {**plan, **deployment}
    return {"plan": json.loads(json.dumps(combined, default=_jsonable))}


@pytest.fixture(scope="session")
def reference_resources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    resources = tmp_path_factory.mktemp("reference-resources")
    write_standard_types(resources)
    return resources


@pytest.fixture(scope="session")
def reference_results(
    tmp_path_factory: pytest.TempPathFactory, reference_resources: Path
) -> dict[str, Any]:
    """Every case through cloudify-common 7.0.5, in one subprocess."""
    try:
        python = reference_python()
    except ReferenceUnavailable as exc:
        reason = f"cloudify-common 7.0.5 (the reference DSL parser) is unavailable: {exc}"
        print(reason, file=sys.stderr)
        pytest.skip(reason)
    cases = [{"name": c.name, "path": str(c.main), "inputs": c.inputs} for c in CASES]
    return run_reference(
        python, reference_resources, {"cases": cases}, tmp_path_factory.mktemp("reference-run")
    )


@pytest.fixture(scope="session")
def our_results() -> dict[str, dict[str, Any]]:
    """Filled lazily: manager.dsl's result per case name."""
    return {}


@pytest.fixture
def results(
    request: pytest.FixtureRequest,
    reference_results: dict[str, Any],
    our_results: dict[str, dict[str, Any]],
) -> tuple[Case, dict[str, Any], dict[str, Any]]:
    """(case, reference result, our result) for the test's `case` parameter."""
    case: Case = request.node.callspec.params["case"]
    if case.name not in our_results:
        our_results[case.name] = run_ours(case)
    return case, reference_results[case.name], our_results[case.name]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Known discrepancies (known_discrepancies.py) become strict xfails."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec else None
        if not isinstance(case, Case):
            continue
        reason = known_reason(getattr(item, "originalname", item.name), case.name)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=f"manager.dsl differs: {reason}", strict=True))


@pytest.fixture(scope="module")
def cfy_bin() -> Path:
    """The unmodified Cloudify CLI 7.0.5 (installed once into a cached venv), or a skip that
    says why it cannot be had."""
    try:
        return cfy_venv_bin()
    except ReferenceUnavailable as exc:
        reason = f"the Cloudify CLI 7.0.5 (cloudify==7.0.5) cannot be installed: {exc}"
        print(reason, file=sys.stderr)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server(cfy_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A `quarterdeck serve` of this module's own, on SQLite. A module that needs other
    settings defines its own `server`."""
    running = start_server(tmp_path_factory.mktemp("serve"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cfy(cfy_bin: Path, server: Server, tmp_path_factory: pytest.TempPathFactory) -> Cfy:
    """The real `cfy` with a profile of its own pointed at `server` as admin."""
    cli = Cfy(cfy_bin, tmp_path_factory.mktemp("home"))
    cli.run(
        "profiles", "use", "127.0.0.1", "-u", "admin", "-p", PASSWORD,
        "-t", "default_tenant", "--rest-port", str(server.port),
    )  # fmt: skip
    return cli
