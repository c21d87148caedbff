"""Blueprints: upload (store, unpack, parse) in one transaction, lookup, delete, archive."""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session, selectinload

from manager import archives
from manager.db import Blueprint, Deployment
from manager.db.base import utcnow
from manager.dsl.resolver import ImportResolver, ResolvedImport
from manager.errors import BadParameters, CodedError, Conflict, DependentExists, NotFound
from manager.orchestration import executions as execution_states
from manager.services import executions, labels, plugins
from manager.services.identity import Principal
from manager.services.tenancy import check_own_tenant, get_visible, visible
from manager.settings import Settings
from manager.uploads import check_id, printable

log = logging.getLogger(__name__)

FAILED_STATES = frozenset(
    {
        "failed_uploading",
        "failed_extracting",
        "failed_parsing",
        "failed_extracting_to_file_server",
        "invalid",
    }
)
END_STATES = FAILED_STATES | {"uploaded"}


@dataclass
class Upload:
    """What a client sent: an archive, or a single YAML document."""

    archive: bytes | None = None
    yaml_text: bytes | None = None
    application_file_name: str = "blueprint.yaml"
    visibility: str = "tenant"
    labels: list[dict[str, Any]] = field(default_factory=list)


def listed() -> Select[Any]:
    """Blueprints as lists read them (with the upload's execution loaded)."""
    return select(Blueprint).options(selectinload(Blueprint.upload_execution))


def blueprint_dir(settings: Settings, tenant: str, blueprint_id: str) -> Path:
    return settings.files_dir / "blueprints" / tenant / blueprint_id


def get(session: Session, principal: Principal, blueprint_id: str) -> Blueprint:
    return get_visible(session, principal, Blueprint, blueprint_id)


def upload(
    session: Session, principal: Principal, settings: Settings, blueprint_id: str, source: Upload
) -> Blueprint:
    """Store and parse a blueprint; a refused one is kept in a failed state with its error.

    Files are unpacked into a scratch directory and moved into place only when everything
    succeeded, so a crash or a refusal never leaves a half-written blueprint behind.
    """
    check_id("blueprint", blueprint_id)
    _check_file_name(source.application_file_name)
    given_labels = labels.parse_labels(source.labels)
    existing = session.scalars(
        visible(select(Blueprint).where(Blueprint.id == blueprint_id), Blueprint, principal)
    ).first()
    if existing is not None:
        if existing.state not in FAILED_STATES:
            raise Conflict(
                f"blueprint with id={blueprint_id} already exists on tenant "
                f"{principal.tenant_name} or with global visibility"
            )
        session.delete(existing)
        session.flush()
    now = utcnow()
    blueprint = Blueprint(
        id=blueprint_id,
        tenant_pk=principal.tenant_pk,
        created_by_pk=principal.user_pk,
        visibility=source.visibility,
        state="uploading",
        created_at=now,
        updated_at=now,
        main_file_name=source.application_file_name,
        labels=labels.rows(given_labels, principal),
    )
    session.add(blueprint)
    execution = executions.new_execution(
        session,
        principal,
        "upload_blueprint",
        blueprint_id=blueprint_id,
        parameters={"blueprint_id": blueprint_id},
    )
    blueprint.upload_execution_id = execution.id
    execution_states.transition(session, execution, execution_states.STARTED)
    session.flush()

    final_dir = blueprint_dir(settings, principal.tenant_name, blueprint_id)
    scratch = settings.files_dir / "tmp" / uuid.uuid4().hex
    try:
        root = _unpack(source, scratch, settings, blueprint)
        if root is not None:
            _parse(blueprint, root, ImportsResolver(session, principal, settings))
        if blueprint.state == "uploaded" and not given_labels:
            _labels_from_plan(blueprint, principal)
        if blueprint.state == "uploaded":
            shutil.rmtree(final_dir, ignore_errors=True)
            final_dir.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(root), str(final_dir))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    if blueprint.state == "uploaded":
        execution_states.transition(session, execution, execution_states.TERMINATED)
    else:
        execution_states.transition(
            session, execution, execution_states.FAILED, error=blueprint.error or blueprint.state
        )
    session.flush()
    return blueprint


class ImportsResolver(plugins.PluginImportResolver):
    """Plugin imports (see PluginImportResolver), and `<ns>--blueprint:<id>` imports: the main
    file of a blueprint the caller can see that finished uploading."""

    def blueprint_yaml(self, blueprint_id: str) -> ResolvedImport | None:
        found = self.session.scalars(
            visible(
                select(Blueprint).where(
                    Blueprint.id == blueprint_id, Blueprint.state == "uploaded"
                ),
                Blueprint,
                self.principal,
            ).order_by((Blueprint.tenant_pk != self.principal.tenant_pk).asc())
        ).first()
        if found is None:
            return None
        main = found.main_file_name or "blueprint.yaml"
        path = blueprint_dir(self.settings, found.tenant.name, found.id) / main
        try:
            return ResolvedImport(path.read_text(encoding="utf-8"), f"blueprint:{found.id}/{main}")
        except OSError:
            log.warning("blueprint %s has no readable %s", found.id, main)
            return None


def _check_file_name(name: str) -> None:
    if not name or name.startswith("/") or ".." in Path(name).parts:
        raise BadParameters(f"application_file_name `{name}` must be a path inside the archive")
    if not name.isprintable():
        raise BadParameters(
            f"application_file_name `{printable(name)}` must not contain control characters"
        )


def _unpack(source: Upload, scratch: Path, settings: Settings, blueprint: Blueprint) -> Path | None:
    blueprint.state = "extracting"
    if source.yaml_text is not None:
        scratch.mkdir(parents=True)
        main = scratch / Path(source.application_file_name).name
        blueprint.main_file_name = main.name
        main.write_bytes(source.yaml_text)
        return scratch
    assert source.archive is not None
    try:
        archives.extract(source.archive, scratch, archives.Limits.of(settings))
    except archives.ArchiveError as exc:
        if "unrecognized format" in exc.message:
            _fail(blueprint, "failed_extracting", exc.message)
            return None
        raise
    root = archives.single_top_directory(scratch)
    if not (root / source.application_file_name).is_file():
        _fail(
            blueprint,
            "failed_extracting",
            f"{source.application_file_name} does not exist in the application directory",
        )
        return None
    return root


def _parse(blueprint: Blueprint, root: Path, resolver: ImportResolver) -> None:
    from manager.dsl import BlueprintInvalid, DslError, parse_blueprint

    blueprint.state = "parsing"
    try:
        plan = parse_blueprint(root, blueprint.main_file_name or "blueprint.yaml", resolver)
    except BlueprintInvalid as exc:
        _fail(blueprint, "invalid", f"Invalid blueprint - {exc}")
        return
    except DslError as exc:
        _fail(blueprint, "invalid", f"Invalid blueprint - {exc.message}")
        return
    except Exception as exc:
        log.exception("parsing blueprint %s failed", blueprint.id)
        _fail(
            blueprint, "failed_parsing", f"Failed parsing blueprint - {exc}", traceback.format_exc()
        )
        return
    blueprint.plan = plan
    blueprint.description = plan.get("description")
    blueprint.state = "uploaded"
    blueprint.error = None


def _labels_from_plan(blueprint: Blueprint, principal: Principal) -> None:
    """The YAML's `blueprint_labels`, unless the upload named labels itself (Cloudify's
    upload keeps only the labels it was given then)."""
    assert blueprint.plan is not None
    try:
        pairs = labels.plan_labels(blueprint.plan.get("blueprint_labels"), "blueprint_labels")
    except BadParameters as exc:
        _fail(blueprint, "invalid", f"Invalid blueprint - {exc.message}")
        return
    blueprint.labels = labels.rows(pairs, principal)


def _fail(blueprint: Blueprint, state: str, error: str, trace: str | None = None) -> None:
    blueprint.state = state
    blueprint.error = error
    blueprint.error_traceback = trace


def set_labels(
    session: Session, principal: Principal, blueprint_id: str, raw_labels: Any
) -> Blueprint:
    """Replace an uploaded blueprint's labels (`cfy blueprints labels add/delete`)."""
    blueprint = get(session, principal, blueprint_id)
    check_own_tenant(principal, blueprint, "change the labels of")
    if blueprint.state != "uploaded":
        raise Conflict(
            f"Blueprint labels can be changed only once the blueprint is uploaded "
            f"(`{blueprint_id}` is {blueprint.state})"
        )
    pairs = labels.parse_labels(raw_labels)
    blueprint.labels = labels.replace(blueprint.labels, pairs, principal)
    session.flush()
    return blueprint


def delete_blueprint(
    session: Session, principal: Principal, settings: Settings, blueprint_id: str, *, force: bool
) -> None:
    """Cloudify's rules: a failed upload goes at once; an unfinished one, or one another
    blueprint imports, only with `force`; one with deployments never."""
    blueprint = get(session, principal, blueprint_id)
    check_own_tenant(principal, blueprint, "delete")
    if blueprint.state not in END_STATES and not force:
        raise CodedError(
            f"Blueprint `{blueprint_id}` is still {blueprint.state}.", "invalid_blueprint_error"
        )
    if blueprint.state == "uploaded" and not force:
        importers = _importers(session, blueprint)
        if importers:
            raise CodedError(
                f"Blueprint `{blueprint_id}` is currently in use by blueprints: "
                f"{', '.join(importers)}. Use `force` to delete it anyway.",
                "blueprint_in_use",
                405,
            )
    deployments = session.scalars(
        select(Deployment.id).where(Deployment.blueprint_pk == blueprint.pk)
    ).all()
    if deployments:
        raise DependentExists(
            f"Can't delete blueprint {blueprint_id} - There exist deployments for this "
            f"blueprint; Deployments ids: {', '.join(deployments)}"
        )
    session.execute(delete(Blueprint).where(Blueprint.pk == blueprint.pk))
    shutil.rmtree(blueprint_dir(settings, blueprint.tenant.name, blueprint_id), ignore_errors=True)


def _importers(session: Session, blueprint: Blueprint) -> list[str]:
    """Ids of the tenant's other blueprints that import this one (`ns--blueprint:<id>`)."""
    rows = session.execute(
        select(Blueprint.id, Blueprint.plan["imported_blueprints"]).where(
            Blueprint.tenant_pk == blueprint.tenant_pk,
            Blueprint.pk != blueprint.pk,
            Blueprint.state == "uploaded",
        )
    ).all()
    return sorted(other for other, imported in rows if blueprint.id in (imported or []))


def archive(settings: Settings, blueprint: Blueprint) -> bytes:
    """The blueprint's files as a tar.gz with one top directory named after the blueprint."""
    directory = blueprint_dir(settings, blueprint.tenant.name, blueprint.id)
    if not directory.is_dir():
        raise NotFound(f"Requested `Blueprint` with ID `{blueprint.id}` has no files (not found)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(directory, arcname=blueprint.id)
    return buffer.getvalue()
