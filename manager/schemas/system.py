"""Manager-level answers: version, status, maintenance, the cluster shape and config."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from manager.schemas.health import WorkerRead


class VersionRead(BaseModel):
    edition: str
    version: str
    build: str | None
    date: str | None
    commit: str | None
    distribution: str
    distro_release: str
    quarterdeck_version: str


class ServiceRead(BaseModel):
    status: str
    is_remote: bool
    extra_info: dict[str, Any]


class StatusRead(BaseModel):
    status: str
    services: dict[str, ServiceRead]
    # The live workers (see `GET /workers`); none means executions cannot progress.
    workers: list[WorkerRead] = []


class MaintenanceRead(BaseModel):
    status: str
    activated_at: str | None
    activation_requested_at: str | None
    remaining_executions: int | None
    requested_by: str | None


class ProviderContextRead(BaseModel):
    name: str
    context: dict[str, Any]


class ManagerRead(BaseModel):
    id: int
    hostname: str
    private_ip: str
    public_ip: str
    version: str
    edition: str
    distribution: str
    distro_release: str
    networks: dict[str, str]


class BrokerRead(BaseModel):
    name: str
    host: str
    port: int
    networks: dict[str, str]
    is_external: bool


class DbNodeRead(BaseModel):
    name: str
    host: str
    is_external: bool


class ClusterRead(BaseModel):
    initialized: bool
    error: str | None
    logs: list[Any]


class LicenseCheckRead(BaseModel):
    status: str
    edition: str


class ConfigRead(BaseModel):
    """One manager setting; every field is optional for `_include`."""

    # (`schema` would shadow a BaseModel attribute: the field takes it as its alias.)
    model_config = ConfigDict(populate_by_name=True)

    name: str | None = None
    value: Any = None
    scope: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    is_editable: bool | None = None
    admin_only: bool | None = None
    updated_at: str | None = None
    updated_by: str | None = None
