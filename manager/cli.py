"""The `quarterdeck` command: serve, api, worker, db upgrade, users create."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

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

HostOpt = Annotated[str, typer.Option(help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on.")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Data directory (QD_DATA_DIR).")]


def _settings(data_dir: Path | None = None, process: str = "quarterdeck") -> Settings:
    try:
        settings = load_settings(data_dir=data_dir)
    except SettingsError as exc:
        typer.echo(f"quarterdeck: {exc}", err=True)
        raise typer.Exit(2) from None
    from manager.logs import configure_logging

    configure_logging(settings.log_level, process)
    return settings


def _prepare(settings: Settings, *, migrate: bool = True) -> None:
    """Secrets, schema and admin user: everything a server needs before it listens."""
    from manager.db import migrate as migrations
    from manager.db.engine import Database
    from manager.services.identity import bootstrap

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


@app.command()
def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8100, data_dir: DataDirOpt = None) -> None:
    """Run everything on this machine: Redis, SQLite, the API, a worker and the watchdog."""
    from manager.embedded import Supervisor

    settings = _settings(data_dir, "serve")
    _prepare(settings)
    typer.echo(
        f"Quarterdeck is serving at http://{host}:{port} (data in "
        f"{settings.data_dir.resolve()}); Ctrl-C stops it.",
        err=True,
    )
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
    import uvicorn

    from manager.main import create_app

    settings = _settings(data_dir, "api")
    _prepare(settings, migrate=migrate)
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
    uvicorn.run("manager.main:create_app", factory=True, workers=workers, **options)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "central",
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    agent: Annotated[str | None, typer.Option(help="Consume this host instance's queue.")] = None,
) -> None:
    """Run a Celery worker executing operations."""
    from manager.logs import configure_logging
    from wire.queues import agent_queue
    from workers.app import create_celery
    from workers.isolation import OperationUserError
    from workers.settings import WorkerSettingsError, load_worker_settings
    from workers.tasks import prepare_worker

    # The worker's own settings: it reads neither the database's nor the secret key's.
    try:
        settings = load_worker_settings()
    except WorkerSettingsError as exc:
        typer.echo(f"quarterdeck: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, "worker")
    try:
        prepare_worker(settings)
    except (WorkerSettingsError, OperationUserError) as exc:
        typer.echo(f"quarterdeck: {exc}", err=True)
        raise typer.Exit(2) from None
    names = [q for q in queues.split(",") if q]
    if agent:
        names = [agent_queue(agent)]
    celery = create_celery(settings.resolved_broker_url)
    celery.worker_main(
        [
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
            f"{agent or 'central'}@%h",
        ]
    )


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDirOpt = None) -> None:
    """Apply every pending migration."""
    from manager.db import migrate as migrations

    settings = _settings(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.resolved_database_url)
    typer.echo("database is up to date", err=True)


@users_app.command("create")
def users_create(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[str, typer.Option(help="Tenant role.")] = "user",
    tenant: Annotated[str, typer.Option(help="Tenant to join.")] = "default_tenant",
    admin: Annotated[bool, typer.Option(help="Make a system administrator.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a user in a tenant."""
    from manager.db.engine import Database
    from manager.errors import QuarterdeckError
    from manager.services.identity import create_user

    settings = _settings(data_dir)
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
