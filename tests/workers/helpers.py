"""Test-side pieces for worker tests: a Callbacks implementation and context builders."""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any


class RecordingCallbacks:
    """The worker's side of the boundary, in memory: secrets, resources, logs, events."""

    def __init__(
        self,
        secrets: dict[str, Any] | None = None,
        resources: dict[str, bytes] | None = None,
    ) -> None:
        self.secrets = dict(secrets or {})
        self.resources = dict(resources or {})
        self.logs: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def get_secret(self, key: str) -> Any:
        return self.secrets[key]

    def get_resource(self, path: str) -> bytes:
        try:
            return self.resources[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def on_log(self, record: Any) -> None:
        with self._lock:
            self.logs.append(dict(record))

    def on_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(event)

    def messages(self) -> list[str]:
        with self._lock:
            return [record["message"] for record in self.logs]


def make_context(
    task_name: str,
    inputs: dict[str, Any] | None = None,
    runtime_properties: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """An operation context shaped like the one the API returns on claim."""
    instance_id = f"vm_{uuid.uuid4().hex[:6]}"
    context: dict[str, Any] = {
        "operation_id": uuid.uuid4().hex,
        "attempt": 1,
        "execution_id": "exec-1",
        "workflow_id": "install",
        "tenant": "default_tenant",
        "blueprint_id": "bp1",
        "deployment_id": "dep1",
        "operation": {
            "name": "cloudify.interfaces.lifecycle.create",
            "retry_number": 0,
            "max_retries": 60,
            "relationship": None,
        },
        "task_name": task_name,
        "implementation": task_name,
        "plugin": {
            "name": "qdtestplugin",
            "package_name": "qdtestplugin",
            "package_version": "1.0.0",
            "source": None,
            "properties": {},
        },
        "inputs": dict(inputs or {}),
        "timeout": None,
        "timeout_recoverable": False,
        "node": {
            "id": "vm",
            "name": "vm",
            "type": "cloudify.nodes.Root",
            "type_hierarchy": ["cloudify.nodes.Root"],
            "properties": {"port": 8080},
        },
        "instance": {
            "id": instance_id,
            "state": "creating",
            "version": 3,
            "runtime_properties": copy.deepcopy(runtime_properties or {}),
            "host_id": None,
            "relationships": [],
        },
        "source": None,
        "target": None,
        "blueprint_dir": None,
    }
    context.update(overrides)
    return context


def relationship_context(task_name: str, **overrides: Any) -> dict[str, Any]:
    context = make_context(task_name, **overrides)
    source = {"node": context["node"], "instance": context["instance"]}
    target = {
        "node": {
            "id": "db",
            "name": "db",
            "type": "cloudify.nodes.Root",
            "type_hierarchy": ["cloudify.nodes.Root"],
            "properties": {},
        },
        "instance": {
            "id": "db_x1",
            "state": "started",
            "version": 7,
            "runtime_properties": {"ip": "10.0.0.5"},
            "host_id": None,
            "relationships": [],
        },
    }
    context["operation"] = dict(context["operation"], name="preconfigure", relationship="source")
    context["source"], context["target"] = source, target
    return context
