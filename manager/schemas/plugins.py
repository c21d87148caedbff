"""The plugin resource, the upload query parameters and the installation-state report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from manager.db import Plugin
from manager.errors import BadParameters
from manager.schemas.common import OwnedRead, check_visibility, iso, ownership

FIELDS = (
    "id",
    "package_name",
    "package_version",
    "package_source",
    "archive_name",
    "distribution",
    "distribution_release",
    "distribution_version",
    "supported_platform",
    "supported_py_versions",
    "uploaded_at",
    "created_at",
    "title",
    "visibility",
    "tenant_name",
    "created_by",
    "private_resource",
    "resource_availability",
    "installation_state",
    "installation_error",
    "yaml_files_paths",
    "yaml_url_path",
    "file_server_path",
    "blueprint_labels",
    "labels",
    "resource_tags",
    "wheels",
    "excluded_wheels",
)

# Cloudify's PluginInstallationState values.
INSTALLATION_STATES = (
    "pending-install",
    "installing",
    "installed",
    "error",
    "pending-uninstall",
    "uninstalling",
    "uninstalled",
)


class PluginUploadParams(BaseModel):
    """The query string of `POST /plugins` (the body is the archive itself)."""

    visibility: str = "tenant"
    title: str | None = Field(default=None, max_length=255)
    plugin_archive_url: str | None = None

    _check_visibility = field_validator("visibility")(check_visibility)

    @classmethod
    def parse(cls, query: dict[str, str], *, private_resource: bool) -> PluginUploadParams:
        data: dict[str, Any] = {
            key: query[key] for key in ("visibility", "title", "plugin_archive_url") if key in query
        }
        # Older clients send `private_resource=True` instead of a visibility.
        if "visibility" not in data and private_resource:
            data["visibility"] = "private"
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise BadParameters(f"Invalid upload parameters: {exc}") from None


class PluginStateReport(BaseModel):
    """What `plugins.set_state(id, state, agent_name=, manager_name=, error=)` sends."""

    model_config = ConfigDict(extra="ignore")

    state: str
    manager: str | None = Field(default=None, max_length=255)
    agent: str | None = Field(default=None, max_length=255)
    error: str | None = None

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value not in INSTALLATION_STATES:
            raise ValueError(f"must be one of {', '.join(INSTALLATION_STATES)}")
        return value


def yaml_url_path(plugin: Plugin) -> str | None:
    """How a blueprint imports this plugin's YAML."""
    if not plugin.yaml_files_paths:
        return None
    path = f"plugin:{plugin.package_name}?version={plugin.package_version}"
    return f"{path}&distribution={plugin.distribution}" if plugin.distribution else path


def installation_state(plugin: Plugin) -> list[dict[str, Any]]:
    """Cloudify's shape: one {manager | agent, state, error} entry per installer."""
    return [
        {
            "manager": report.get("manager"),
            "agent": report.get("agent"),
            "state": report.get("state"),
            "error": report.get("error"),
            "updated_at": report.get("reported_at"),
        }
        for report in plugin.installation_reports or []
    ]


class PluginRead(OwnedRead):
    """A plugin as `cfy plugins` reads it; every field is optional for `_include`."""

    id: str | None = None
    uploaded_at: str | None = None
    package_name: str | None = None
    package_version: str | None = None
    package_source: str | None = None
    archive_name: str | None = None
    distribution: str | None = None
    distribution_release: str | None = None
    distribution_version: str | None = None
    supported_platform: str | None = None
    supported_py_versions: list[Any] | None = None
    title: str | None = None
    installation_state: list[dict[str, Any]] | None = None
    installation_error: str | None = None
    yaml_files_paths: list[Any] | None = None
    yaml_url_path: str | None = None
    file_server_path: str | None = None
    blueprint_labels: dict[str, Any] | None = None
    labels: list[Any] | None = None
    resource_tags: dict[str, Any] | None = None
    wheels: list[Any] | None = None
    excluded_wheels: list[Any] | None = None


def plugin_read(plugin: Plugin) -> dict[str, Any]:
    return {
        "id": plugin.id,
        **ownership(plugin),
        "uploaded_at": iso(plugin.created_at),
        "package_name": plugin.package_name,
        "package_version": plugin.package_version,
        "package_source": plugin.package_source,
        "archive_name": plugin.archive_name,
        "distribution": plugin.distribution,
        "distribution_release": plugin.distribution_release,
        "distribution_version": plugin.distribution_version,
        "supported_platform": plugin.supported_platform,
        "supported_py_versions": plugin.supported_py_versions,
        "title": plugin.title,
        "installation_state": installation_state(plugin),
        "installation_error": plugin.installation_error,
        "yaml_files_paths": plugin.yaml_files_paths,
        "yaml_url_path": yaml_url_path(plugin),
        # The 7.0.5 server model has no such field; the client only reads it (rest-contract §13.2).
        "file_server_path": None,
        "blueprint_labels": plugin.blueprint_labels,
        "labels": plugin.labels,
        "resource_tags": plugin.resource_tags,
        "wheels": plugin.wheels,
        "excluded_wheels": plugin.excluded_wheels,
    }
