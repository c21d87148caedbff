"""The `quarterdeck` command: serve, api, worker, workers, db upgrade/current, users
create/list.

Every server command checks what it needs before it starts (its settings, a free port,
the database, the broker and, for workers, the API and its token: manager.preflight) and
stops with exit code 2 and one line naming the problem when something is wrong.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from manager import __version__
from manager.preflight import PreflightError, check_broker, check_database, check_port
from manager.settings import (
    Settings,
    SettingsError,
    ensure_secrets,
    load_settings,
    private_sqlite_files,
)

app = typer.Typer(
    help="Quarterdeck orchestration manager.", no_args_is_help=True, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
users_app = typer.Typer(help="User commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")

log = logging.getLogger("quarterdeck")
# The exit code of a start-up check that failed (`serve` does not restart such a child).
MISCONFIGURED = 2


def _version(value: bool) -> None:
    if value:
        typer.echo(f"quarterdeck {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Quarterdeck orchestration manager."""


def _fail(message: str) -> NoReturn:
    """One line on stderr naming the problem, and exit code 2."""
    typer.echo(f"quarterdeck: {message}", err=True)
    raise typer.Exit(MISCONFIGURED)


HostOpt = Annotated[str, typer.Option(help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Data directory (QD_DATA_DIR).")]


def _settings(data_dir: Path | None = None, process: str = "quarterdeck") -> Settings:
    try:
        settings = load_settings(data_dir=data_dir)
    except SettingsError as exc:
        _fail(str(exc))
    from manager.logs import configure_logging

    configure_logging(settings.log_level, process, settings.log_format)
    return settings


def _reach_database(settings: Settings) -> None:
    try:
        check_database(settings.resolved_database_url, settings.startup_wait_seconds)
    except PreflightError as exc:
        _fail(str(exc))


def _prepare(settings: Settings, *, migrate: bool = True) -> bool:
    """Secrets, schema and admin user: everything a server needs before it listens.
    Returns whether this start generated the admin password (and printed it)."""
    from manager.db import migrate as migrations
    from manager.db.engine import Database
    from manager.services.identity import bootstrap

    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _reach_database(settings)
    first = ensure_secrets(settings)
    # Uploaded blueprints and plugins of every tenant: the data directory is passable for
    # a worker's operation user (to reach its venvs), this is not.
    settings.files_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if migrate:
        migrations.upgrade(settings.resolved_database_url)
    private_sqlite_files(settings)
    database = Database(settings.resolved_database_url)
    try:
        with database.transaction() as session:
            created = bootstrap(session, settings.admin_username, settings.admin_password)
    finally:
        database.dispose()
    if created and first.admin_password:
        # Printed once, on the start that generated it; it is also in secrets.json (0600).
        typer.echo(
            f"Admin credentials (shown once): {settings.admin_username} / {first.admin_password}",
            err=True,
        )
        return True
    return False


def _password_whereabouts(settings: Settings) -> str:
    """Where the admin password of a data directory started before is kept (never it)."""
    if os.environ.get("QD_ADMIN_PASSWORD"):
        return "the admin password is the QD_ADMIN_PASSWORD it was created with"
    stored = (settings.data_dir / "secrets.json").resolve()
    return (
        f"the admin password ({settings.admin_username}) generated on the first start is "
        f"kept in {stored} (admin_password)"
    )


@contextmanager
def _metrics_directory() -> Iterator[None]:
    """PROMETHEUS_MULTIPROC_DIR for this API's processes (a fresh private directory,
    removed at exit), unless the operator set one. It must be set before prometheus_client
    is first imported, which is why the API is imported after this."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    directory = tempfile.mkdtemp(prefix="quarterdeck-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@app.command()
def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8100, data_dir: DataDirOpt = None) -> None:
    """Run everything on this machine: Redis, SQLite, the API, a worker and the watchdog."""
    from manager.embedded import Supervisor

    settings = _settings(data_dir, "serve")
    try:
        check_port(host, port)
    except PreflightError as exc:
        _fail(str(exc))
    generated = _prepare(settings)
    typer.echo(
        f"Quarterdeck is serving at http://{host}:{port} (data in "
        f"{settings.data_dir.resolve()}); Ctrl-C stops it.",
        err=True,
    )
    if not generated:
        typer.echo(f"Quarterdeck: {_password_whereabouts(settings)}.", err=True)
    raise typer.Exit(Supervisor(settings, host, port).run())


@app.command()
def api(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8100,
    data_dir: DataDirOpt = None,
    migrate: Annotated[bool, typer.Option(help="Apply migrations first.")] = True,
    workers: Annotated[int, typer.Option(min=1, help="API processes sharing the port.")] = 1,
) -> None:
    """Run the REST API (migrating the database first)."""
    settings = _settings(data_dir, "api")
    try:
        check_port(host, port)
        check_broker(settings.resolved_broker_url, settings.startup_wait_seconds)
    except PreflightError as exc:
        _fail(str(exc))
    _prepare(settings, migrate=migrate)
    with _metrics_directory():
        _run_api(settings, host, port, workers)


def _run_api(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from manager.main import create_app

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 3,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Each process builds its own app from the environment: pass on what the flags and the
    # first start decided. The watchdog runs in one of them at a time (its lease).
    os.environ["QD_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["QD_SECRET_KEY"] = settings.secret_key
    os.environ["QD_ADMIN_PASSWORD"] = settings.admin_password
    # A child pings back only once it has imported the app, which takes seconds, and tens of
    # seconds on a loaded machine: uvicorn's 5 s default would kill children as they start.
    uvicorn.run(
        "manager.main:create_app",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=60,
        **options,
    )


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "central",
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    agent: Annotated[str | None, typer.Option(help="Consume this host instance's queue.")] = None,
) -> None:
    """Run a Celery worker executing operations."""
    import socket

    from manager.logs import configure_logging
    from wire.queues import agent_queue
    from workers.app import create_celery
    from workers.isolation import OperationUserError
    from workers.preflight import ApiUnavailable, check_api
    from workers.presence import Presence, announce_when_ready
    from workers.settings import WorkerSettingsError, load_worker_settings
    from workers.tasks import prepare_worker

    # The worker's own settings: it reads neither the database's nor the secret key's.
    try:
        settings = load_worker_settings()
    except WorkerSettingsError as exc:
        _fail(str(exc))
    configure_logging(settings.log_level, "worker", settings.log_format)
    try:
        prepare_worker(settings)  # (the token first, then the operation user)
        check_broker(settings.resolved_broker_url, settings.startup_wait_seconds)
        check_api(settings.api_url, settings.resolved_worker_token, settings.startup_wait_seconds)
    except (WorkerSettingsError, OperationUserError, PreflightError, ApiUnavailable) as exc:
        _fail(str(exc))
    names = [q for q in queues.split(",") if q]
    if agent:
        names = [agent_queue(agent)]
    node = f"{agent or 'central'}@{socket.gethostname()}"
    celery = create_celery(settings.resolved_broker_url)
    announce_when_ready(celery, Presence(settings.resolved_broker_url, node, names, concurrency))
    # Celery's banner (its whole configuration) only when debugging.
    quiet = [] if settings.log_level == "DEBUG" else ["--quiet"]
    # Running as root is deliberate (operations drop to QD_OPERATION_USER), and Celery's
    # warning about it would say otherwise.
    warnings.filterwarnings("ignore", message="You're running the worker with superuser")
    celery.worker_main(
        [
            *quiet,
            "worker",
            "--loglevel",
            settings.log_level,
            "--concurrency",
            str(concurrency),
            "--queues",
            ",".join(names),
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            node,
        ]
    )


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDirOpt = None) -> None:
    """Apply every pending migration."""
    from manager.db import migrate as migrations

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _reach_database(settings)
    migrations.upgrade(settings.resolved_database_url)
    typer.echo("database is up to date", err=True)


@db_app.command("current")
def db_current(data_dir: DataDirOpt = None) -> None:
    """Print the database's migration revision; exit 1 when it is behind the code's."""
    from manager.db import migrate as migrations

    settings = _settings(data_dir)
    _reach_database(settings)
    current, heads = migrations.revisions(settings.resolved_database_url)
    typer.echo(f"current: {', '.join(current) or '(none: never migrated)'}")
    typer.echo(f"head:    {', '.join(heads)}")
    if current != heads:
        typer.echo("the database is behind: run `quarterdeck db upgrade`", err=True)
        raise typer.Exit(1)
    typer.echo("the database is up to date", err=True)


@users_app.command("list")
def users_list(data_dir: DataDirOpt = None) -> None:
    """List the users: name, system role, active or not, and tenant memberships."""
    from sqlalchemy import select

    from manager.db import User
    from manager.db.engine import Database

    settings = _settings(data_dir)
    _reach_database(settings)
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as session:
            rows = [
                (
                    user.username,
                    user.role,
                    "active" if user.active else "inactive",
                    ", ".join(sorted(f"{m.tenant.name}:{m.role}" for m in user.memberships)),
                )
                for user in session.scalars(select(User).order_by(User.username))
            ]
    finally:
        database.dispose()
    _table(("USERNAME", "ROLE", "STATE", "TENANTS"), rows)


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Columns aligned on stdout, header first."""
    cells = [tuple(str(v) for v in header), *[tuple(str(v) for v in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        typer.echo(
            "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        )


@app.command("workers")
def workers_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """List the live workers (from their presence in the broker) and what they run."""
    from manager.broker import Broker
    from manager.db.engine import Database
    from manager.services.workers import safe_list_workers

    settings = _settings(data_dir)
    _reach_database(settings)
    try:
        check_broker(settings.resolved_broker_url, 0)
    except PreflightError as exc:
        _fail(str(exc))
    database = Database(settings.resolved_database_url)
    broker = Broker(settings.resolved_broker_url)
    try:
        with database.session() as session:
            found = safe_list_workers(session, broker) or []
    finally:
        broker.close()
        database.dispose()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    _table(
        ("NAME", "PID", "QUEUES", "CONCURRENCY", "LAST HEARTBEAT", "RUNNING"),
        [
            (
                w["name"],
                w["pid"],
                ",".join(w["queues"]),
                w["concurrency"],
                w["last_heartbeat"],
                w["running_operations"],
            )
            for w in found
        ],
    )
    if not found:
        typer.echo("no worker is running: executions will not progress", err=True)


@users_app.command("create")
def users_create(
    username: str,
    password: Annotated[
        str | None, typer.Option(help="The password (prompted for when not given).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    role: Annotated[str, typer.Option(help="Tenant role.")] = "user",
    tenant: Annotated[str, typer.Option(help="Tenant to join.")] = "default_tenant",
    admin: Annotated[bool, typer.Option(help="Make a system administrator.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a user in a tenant."""
    from manager.db.engine import Database
    from manager.errors import QuarterdeckError
    from manager.services.identity import create_user

    if password_stdin:
        if password is not None:
            _fail("give either --password or --password-stdin, not both")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            _fail("--password-stdin read an empty password")
    elif password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = _settings(data_dir)
    _reach_database(settings)
    database = Database(settings.resolved_database_url)
    try:
        with database.transaction() as session:
            create_user(
                session,
                username,
                password,
                tenant_name=tenant,
                tenant_role=role,
                system_role="sys_admin" if admin else "default",
            )
    except QuarterdeckError as exc:
        typer.echo(f"quarterdeck: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    typer.echo(f"user `{username}` created in tenant `{tenant}`", err=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
