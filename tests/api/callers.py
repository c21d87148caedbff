"""Callers for identity tests: users with a role in a tenant, tokens, and raw rows."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update

from manager.db import Blueprint, Deployment, Execution, Plugin, Secret, Tenant, User
from manager.db.engine import Database
from manager.services.identity import create_user, get_or_create_tenant
from manager.services.tokens import execution_token_for

API = "/api/v3.1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Caller:
    """Requests as one principal: Basic credentials, or token headers, plus a tenant."""

    client: TestClient
    tenant: str | None
    auth: tuple[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, **kwargs: Any) -> Response:
        headers = dict(self.headers)
        if self.tenant is not None:
            headers["Tenant"] = self.tenant
        headers.update(kwargs.pop("headers", {}))
        # The file server (`/resources/...`) lives outside the API prefix.
        url = path if path.startswith(("/api/", "/resources/")) else API + path
        return self.client.request(method, url, auth=self.auth, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Response:
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)

    def in_tenant(self, tenant: str | None) -> Caller:
        return Caller(self.client, tenant, self.auth, dict(self.headers))


def new_user(
    client: TestClient,
    database: Database,
    tenant: str | None,
    role: str,
    *,
    system_role: str = "default",
) -> Caller:
    """A fresh user with `role` in `tenant` (created if missing), acting there."""
    username, password = unique(f"u-{role}"), secrets.token_urlsafe(12)
    with database.transaction() as session:
        create_user(
            session,
            username,
            password,
            system_role=system_role,
            tenant_name=tenant,
            tenant_role=role if role != "sys_admin" else "user",
        )
    return Caller(client, tenant, (username, password))


def new_tenant(database: Database, name: str | None = None) -> str:
    name = name or unique("t")
    with database.transaction() as session:
        get_or_create_tenant(session, name)
    return name


def token_caller(client: TestClient, value: str, tenant: str | None) -> Caller:
    return Caller(client, tenant, None, {"Authentication-Token": value})


def start_execution_row(
    database: Database, tenant: str, deployment_id: str | None, creator: str, **fields: Any
) -> tuple[str, str]:
    """An execution row (pending, so live) and its execution token, as the engine mints it."""
    with database.transaction() as session:
        tenant_pk = session.scalar(select(Tenant.pk).where(Tenant.name == tenant))
        deployment = None
        if deployment_id is not None:
            deployment = session.scalar(
                select(Deployment).where(
                    Deployment.tenant_pk == tenant_pk, Deployment.id == deployment_id
                )
            )
        execution = Execution(
            id=str(uuid.uuid4()),
            tenant_pk=tenant_pk,
            created_by_pk=session.scalar(select(User.pk).where(User.username == creator)),
            workflow_id=fields.pop("workflow_id", "install"),
            deployment=deployment,
            blueprint_id=deployment.blueprint.id if deployment else fields.pop("blueprint_id"),
            parameters={},
            status=fields.pop("status", "pending"),
            **fields,
        )
        session.add(execution)
        session.flush()
        value = execution_token_for(session, execution)
        return execution.id, value


def execution_caller(client: TestClient, value: str, tenant: str | None = None) -> Caller:
    return Caller(client, tenant, None, {"Execution-Token": value})


SMALL_BLUEPRINT = """
tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  vm:
    type: cloudify.nodes.Root
"""


def upload_yaml(caller: Caller, blueprint_id: str, text: str = SMALL_BLUEPRINT) -> None:
    """Upload a single-file blueprint into the caller's tenant."""
    response = caller.put(
        f"/blueprints/{blueprint_id}",
        headers={"Content-Type": "application/yaml"},
        content=text,
    )
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "uploaded", response.text


def create_deployment(caller: Caller, deployment_id: str, blueprint_id: str) -> str:
    """Create a deployment; returns the id of its first node instance."""
    response = caller.put(f"/deployments/{deployment_id}", json={"blueprint_id": blueprint_id})
    assert response.status_code == 201, response.text
    instances = caller.get("/node-instances", params={"deployment_id": deployment_id})
    return str(instances.json()["items"][0]["id"])


def narrow_global_rows(database: Database, ids: list[str], secret_keys: list[str]) -> None:
    """Make a test's global rows (deployments, blueprints, plugins with these ids, secrets
    with these keys) tenant-wide again, out of the lists other tests' tenants read from the
    same database."""
    with database.transaction() as session:
        for model in (Deployment, Blueprint, Plugin):
            session.execute(update(model).where(model.id.in_(ids)).values(visibility="tenant"))
        session.execute(
            update(Secret).where(Secret.key.in_(secret_keys)).values(visibility="tenant")
        )
