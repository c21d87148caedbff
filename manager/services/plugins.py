"""Plugins: upload (inspect, store, record), lookup, deletion refused while deployments use
them, installation reports from workers, and the resolver serving their YAML to blueprints.

Files live in `<files dir>/plugins/<tenant>/<plugin id>/`: the package under the name
`plugin_packages` built for it, the YAML files, `icon.png`. The plugin id is ours (a UUID)
and the tenant name comes from the database, so no request text becomes a path.
"""

from __future__ import annotations

import logging
import re
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from manager import archives
from manager.db import Blueprint, Deployment, Plugin
from manager.db.base import utcnow
from manager.dsl.resolver import NullResolver, ResolvedImport
from manager.errors import BadParameters, Conflict, NotFound, QuarterdeckError
from manager.permissions import authorize
from manager.schemas.common import iso
from manager.services.identity import Principal
from manager.services.plugin_packages import matches_spec, read_upload, version_key
from manager.services.tenancy import check_own_tenant, visible
from manager.settings import Settings

log = logging.getLogger(__name__)

# pip's and uv's output can be long; the end of it names the failure.
MAX_ERROR_CHARS = 20000
# Where a plan lists the plugins its deployments install (rest-contract §8.5).
PLAN_PLUGIN_LISTS = (
    "deployment_plugins_to_install",
    "workflow_plugins_to_install",
    "host_agent_plugins_to_install",
)


class PluginInUse(QuarterdeckError):
    status_code = 405
    error_code = "plugin_in_use"


# where files live -------------------------------------------------------------------------------


def listed() -> Select[Any]:
    """Every plugin, before a list's visibility and filters."""
    return select(Plugin)


def plugin_dir(settings: Settings, tenant: str, plugin_id: str) -> Path:
    root = settings.files_dir / "plugins"
    for part in (tenant, plugin_id):
        if part in ("", ".", "..") or any(c in part for c in "/\\\0"):
            raise BadParameters(f"`{part}` cannot name a plugin directory")
    return root / tenant / plugin_id


def discard_files(directory: Path) -> None:
    """Remove a plugin's directory (after its row is gone, or when its upload was undone)."""
    shutil.rmtree(directory, ignore_errors=True)


# reading ----------------------------------------------------------------------------------------


def get(session: Session, principal: Principal, plugin_id: str, *, lock: bool = False) -> Plugin:
    stmt = visible(select(Plugin).where(Plugin.id == plugin_id), Plugin, principal)
    if lock:
        stmt = stmt.with_for_update(of=Plugin)
    plugin = session.scalars(stmt).first()
    if plugin is None:
        raise NotFound.of("Plugin", plugin_id)
    return plugin


def archive_path(settings: Settings, plugin: Plugin) -> Path:
    path = plugin_dir(settings, plugin.tenant.name, plugin.id) / plugin.archive_name
    if not path.is_file():
        raise NotFound(f"Requested `Plugin` with ID `{plugin.id}` has no archive (not found)")
    return path


def yaml_path(settings: Settings, plugin: Plugin, dsl_version: tuple[int, int] | None) -> Path:
    name = choose_yaml(plugin.yaml_files_paths, dsl_version)
    if name is None:
        raise NotFound(f"Requested `Plugin` with ID `{plugin.id}` has no YAML file (not found)")
    return plugin_dir(settings, plugin.tenant.name, plugin.id) / name


def choose_yaml(names: list[str], dsl_version: tuple[int, int] | None) -> str | None:
    """The `plugin_<major>_<minor>.yaml` variant for that DSL version, else the main YAML."""
    if dsl_version is not None:
        suffix = f"_{dsl_version[0]}_{dsl_version[1]}"
        for name in names:
            if name.rsplit(".", 1)[0].endswith(suffix):
                return name
    unversioned = [name for name in names if not re.search(r"_\d+_\d+\.ya?ml$", name)]
    candidates = unversioned or names
    return candidates[0] if candidates else None


def parse_dsl_version(value: str | None) -> tuple[int, int] | None:
    """`cloudify_dsl_1_4`, `1_4` or `1.4` as (1, 4)."""
    m = re.search(r"(\d+)[._](\d+)$", value or "")
    return (int(m[1]), int(m[2])) if m else None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_plugin(
    session: Session,
    principal: Principal,
    name: str,
    *,
    version: str | None = None,
    distribution: str | None = None,
    with_yaml: bool = False,
) -> Plugin | None:
    """The newest visible plugin whose package is `name` (compared as pip does: case and
    `-_.` insensitive) and whose version satisfies `version` (a PEP 440 specifier)."""
    normal = func.lower(func.replace(func.replace(Plugin.package_name, "_", "-"), ".", "-"))
    stmt = visible(select(Plugin).where(normal == _normal(name)), Plugin, principal)
    wanted_distribution = (distribution or "").lower()
    if wanted_distribution in ("none", "null"):  # what Cloudify prints for no distribution
        wanted_distribution = ""
    candidates = [
        plugin
        for plugin in session.scalars(stmt)
        if (not version or matches_spec(plugin.package_version, version))
        and (not wanted_distribution or (plugin.distribution or "").lower() == wanted_distribution)
        and (plugin.yaml_files_paths or not with_yaml)
    ]
    return max(
        candidates, key=lambda p: (version_key(p.package_version), p.created_at), default=None
    )


# uploading --------------------------------------------------------------------------------------


def upload(
    session: Session,
    principal: Principal,
    settings: Settings,
    data: bytes,
    *,
    visibility: str = "tenant",
    title: str | None = None,
) -> Plugin:
    """Inspect, record and store an uploaded plugin; nothing is kept when it is refused.

    The files are prepared in a scratch directory and renamed into place once the row is
    in the session, so a refusal or a crash never leaves a half-written plugin behind.
    The caller commits, and calls `discard_files` on the plugin's directory if that fails.
    """
    if visibility == "global":
        authorize(principal, "create_global_resource")
    scratch = settings.files_dir / "tmp" / uuid.uuid4().hex
    staging = scratch / "store"
    try:
        package = read_upload(data, staging, scratch, archives.Limits.of(settings))
        _refuse_duplicate(
            session, principal, package.package_name, package.package_version, visibility
        )
        plugin = Plugin(
            id=str(uuid.uuid4()),
            tenant_pk=principal.tenant_pk,
            created_by_pk=principal.user_pk,
            visibility=visibility,
            created_at=utcnow(),
            title=title or package.package_name,
            package_name=package.package_name,
            package_version=package.package_version,
            package_source=package.package_source,
            archive_name=package.archive_name,
            distribution=package.distribution,
            distribution_release=package.distribution_release,
            distribution_version=package.distribution_version,
            supported_platform=package.supported_platform,
            supported_py_versions=package.supported_py_versions,
            yaml_files_paths=package.yaml_files,
            wheels=package.wheels,
            excluded_wheels=package.excluded_wheels,
            labels=package.labels,
            blueprint_labels=package.blueprint_labels,
            resource_tags=package.resource_tags,
            installation_state="pending",
            installation_reports=[],
        )
        try:
            with session.begin_nested():
                session.add(plugin)
        except IntegrityError:  # a concurrent upload of the same package won the race
            _refuse_duplicate(
                session, principal, package.package_name, package.package_version, visibility
            )
            raise
        target = plugin_dir(settings, principal.tenant_name, plugin.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return plugin


def _refuse_duplicate(
    session: Session, principal: Principal, name: str, version: str, visibility: str
) -> None:
    """One plugin per package and version among those a tenant sees: its own and global ones
    (a global upload therefore clashes with the same version in any tenant)."""
    stmt = select(Plugin).where(Plugin.package_name == name, Plugin.package_version == version)
    if visibility != "global":
        stmt = stmt.where(
            or_(Plugin.tenant_pk == principal.tenant_pk, Plugin.visibility == "global")
        )
    existing = session.scalars(stmt).first()
    if existing is not None:
        raise Conflict(
            f"A plugin with package name {name} and version {version} already exists on "
            f"tenant {existing.tenant.name} (id {existing.id}, archive "
            f"{existing.archive_name}); delete it first, or upload another version"
        )


# deleting ---------------------------------------------------------------------------------------


def delete_plugin(
    session: Session, principal: Principal, settings: Settings, plugin_id: str, *, force: bool
) -> Path:
    """Delete the row; returns the directory to discard once the deletion is committed."""
    plugin = get(session, principal, plugin_id, lock=True)
    check_own_tenant(principal, plugin, "delete")
    if not force:
        users = deployments_using(session, plugin)
        if users:
            raise PluginInUse(
                f"Plugin `{plugin.id}` ({plugin.package_name} {plugin.package_version}) is "
                f"currently in use by deployments: {', '.join(users)}. Delete those "
                "deployments first, or delete the plugin with force"
            )
    directory = plugin_dir(settings, plugin.tenant.name, plugin.id)
    session.delete(plugin)
    return directory


def deployments_using(session: Session, plugin: Plugin) -> list[str]:
    """Deployments whose blueprint installs this package: at this version, or at no named
    version while this is the newest upload (what a worker would then install)."""
    columns = [Blueprint.plan[key] for key in PLAN_PLUGIN_LISTS]
    stmt = select(Deployment.id, *columns).join(Blueprint, Deployment.blueprint_pk == Blueprint.pk)
    if plugin.visibility != "global":
        stmt = stmt.where(Deployment.tenant_pk == plugin.tenant_pk)
    newest = _is_newest(session, plugin)
    users = []
    for deployment_id, *lists in session.execute(stmt):
        if any(_installs(entry, plugin, newest) for entry in _entries(lists)):
            users.append(deployment_id)
    return sorted(users)


def _entries(lists: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for entries in lists:
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                yield entry


def _installs(entry: dict[str, Any], plugin: Plugin, newest: bool) -> bool:
    if entry.get("install") is False or entry.get("package_name") != plugin.package_name:
        return False
    version = entry.get("package_version")
    if not version:
        return newest
    return version_key(str(version)) == version_key(plugin.package_version)


def _is_newest(session: Session, plugin: Plugin) -> bool:
    stmt = select(Plugin.package_version).where(
        Plugin.package_name == plugin.package_name,
        or_(Plugin.tenant_pk == plugin.tenant_pk, Plugin.visibility == "global"),
    )
    versions = session.scalars(stmt).all()
    return max(versions, key=version_key) == plugin.package_version


# installation reports ---------------------------------------------------------------------------


def report_state(
    session: Session,
    principal: Principal,
    plugin_id: str,
    *,
    state: str,
    manager: str | None = None,
    agent: str | None = None,
    error: str | None = None,
) -> Plugin:
    """Record what one worker (`manager`) or agent says about installing the plugin.

    A new report replaces that installer's previous one; the summary state is `error` while
    any installer reports an error, and `installation_error` is the latest such error text.
    """
    if bool(manager) == bool(agent):
        raise BadParameters("Name exactly one of `manager` or `agent`: who installed the plugin")
    plugin = get(session, principal, plugin_id, lock=True)
    check_own_tenant(principal, plugin, "record an installation of")
    reports = [
        report
        for report in plugin.installation_reports or []
        if (report.get("manager"), report.get("agent")) != (manager, agent)
    ]
    if error and len(error) > MAX_ERROR_CHARS:
        error = "…" + error[-MAX_ERROR_CHARS:]
    reports.append(
        {
            "manager": manager,
            "agent": agent,
            "state": state,
            "error": error if state == "error" else None,
            "reported_at": iso(utcnow()),
        }
    )
    plugin.installation_reports = reports
    plugin.installation_state = _summary(report["state"] for report in reports)
    errors = [report["error"] for report in reports if report["state"] == "error"]
    plugin.installation_error = errors[-1] if errors else None
    return plugin


def _summary(states: Iterable[str]) -> str:
    found = set(states)
    for state, when in (
        ("error", {"error"}),
        ("installing", {"installing", "pending-install"}),
        ("installed", {"installed"}),
        ("uninstalling", {"uninstalling", "pending-uninstall"}),
        ("uninstalled", {"uninstalled"}),
    ):
        if found & when:
            return state
    return "pending"


# blueprint imports ------------------------------------------------------------------------------


class PluginImportResolver(NullResolver):
    """Serves `plugin:<name>[?version=<spec>&distribution=<d>]` imports, and the
    getcloudify.org plugin.yaml URLs the DSL maps to them, from the YAML files uploaded with
    the plugins the caller can see; the newest matching version wins."""

    def __init__(self, session: Session, principal: Principal, settings: Settings) -> None:
        self.session = session
        self.principal = principal
        self.settings = settings

    def plugin_yaml(
        self, name: str, query: dict[str, str], dsl_version: tuple[int, int]
    ) -> ResolvedImport | None:
        plugin = find_plugin(
            self.session,
            self.principal,
            name,
            version=query.get("version"),
            distribution=query.get("distribution"),
            with_yaml=True,
        )
        if plugin is None:
            return None
        path = yaml_path(self.settings, plugin, dsl_version)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            log.warning("plugin %s lists %s but the file is unreadable", plugin.id, path.name)
            return None
        return ResolvedImport(
            text, f"plugin:{plugin.package_name}@{plugin.package_version}/{path.name}"
        )
