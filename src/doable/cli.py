"""`doable …` commands: serve, migrate, check, users, export, import, backup."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError

from doable import __version__
from doable.config import ConfigError, RuntimeConfig, Settings, redact_url, resolve
from doable.db import Database
from doable.errors import database_refusal, is_db_unavailable
from doable.logging_setup import configure_logging

if TYPE_CHECKING:  # imported where used: `doable serve` needs none of rich
    from rich.console import Console
    from rich.progress import Progress

app = typer.Typer(
    name="doable",
    help="Doable: a self-hostable, multi-user task service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@cache
def err() -> Console:
    """Where messages go. Made on first use: `doable serve` writes through logging, and rich's
    console is some 50 modules to import."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


@cache
def out() -> Console:
    """Where a command's output goes (made on first use, as `err`)."""
    from rich.console import Console

    return Console(soft_wrap=True)


log = logging.getLogger("doable.cli")
T = TypeVar("T")
WORKER_HEALTHCHECK_SECONDS = 60


def fail(message: str, code: int = 1) -> NoReturn:
    err().print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def load_runtime() -> RuntimeConfig:
    """Settings validated up front: any problem is one readable line and exit code 2."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "setting"
        fail(f"{name.upper()} is invalid: {first['msg']}", 2)
    configure_logging(settings.log_format, settings.log_level)
    try:
        runtime = resolve(settings)
    except ConfigError as exc:
        fail(str(exc), 2)
    return runtime


def run(coro: Awaitable[T]) -> T:
    async def wrapper() -> T:
        return await coro

    return asyncio.run(wrapper())


def _version(value: bool) -> None:
    if value:
        out().print(f"doable {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Doable command line."""


async def migrate_with_retry(runtime: RuntimeConfig, *, migrate: bool = True) -> str | None:
    """Run migrations (under the database's migration lock), retrying with backoff while the
    database is unreachable; then make sure this build can serve the schema: at its head with
    every table and column it needs, or newer but inside the window the newer release declared
    (ConfigError with one line if not). With `migrate=False`, only wait for the database."""
    from doable.migrations import current_revision, servable, upgrade

    database = Database(runtime.database)
    deadline = time.monotonic() + runtime.settings.db_startup_timeout
    delay = 0.5
    try:
        while True:
            try:
                if not migrate:
                    return await current_revision(database.engine)
                revision = await upgrade(database.engine)
                ok, why = await servable(database.engine)
                if not ok:
                    raise ConfigError(why)
                return revision
            except ConfigError:
                raise
            except Exception as exc:
                refusal = database_refusal(exc)
                if refusal is not None:
                    raise ConfigError(_refused(runtime, refusal)) from None
                if not is_db_unavailable(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise ConfigError(
                        f"cannot reach the database at {runtime.database.safe()} "
                        f"after {runtime.settings.db_startup_timeout:g} s ({type(exc).__name__}); "
                        "check DATABASE_URL and that the server is up"
                    ) from None
                log.warning(
                    "database not reachable yet (%s); retrying in %.1f s", type(exc).__name__, delay
                )
                if not gc.isenabled():  # `serve`: the failed attempt's cycles would be frozen
                    gc.collect()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
    finally:
        await database.dispose()


def _refused(runtime: RuntimeConfig, refusal: str) -> str:
    # The URL with its password masked: the line names the problem, never the secret.
    return f"{refusal} ({runtime.database.safe()}); check DATABASE_URL"


def _migrate(runtime: RuntimeConfig) -> str | None:
    try:
        return run(migrate_with_retry(runtime))
    except ConfigError as exc:
        fail(str(exc))


@app.command()
def migrate() -> None:
    """Upgrade the database schema to the latest revision."""
    runtime = load_runtime()
    revision = _migrate(runtime)
    out().print(f"database at revision {revision} ({runtime.database.safe()})", highlight=False)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (env HOST, default 127.0.0.1)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (env PORT, default 8000)", min=1, max=65535)
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes (default 1 on every backend; see the README's "
            "deployment section)",
            min=1,
            max=64,
        ),
    ] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Migrate the database first (default), or leave that to `doable migrate`",
        ),
    ] = True,
) -> None:
    """Run migrations, then serve the API."""
    import uvicorn

    if workers == 1 and not reload:
        # This process builds and runs the app: no collector passes over the objects startup
        # makes to last (doable.entry says why); the app's lifespan turns it back on.
        gc.disable()

    runtime = load_runtime()
    settings = runtime.settings
    if migrate:
        _migrate(runtime)
    else:
        # Serve whatever the schema is: /readyz answers 503, with the reason, until this build
        # can serve it (a migration Job has run, or it is inside the newer release's window).
        try:
            run(migrate_with_retry(runtime, migrate=False))
        except ConfigError as exc:
            fail(str(exc))
    # Worker processes build the app from the environment: hand them the folder chosen here
    # (it may be the fallback), so they neither warn again nor pick another one.
    os.environ["DOABLE_DATA_DIR"] = str(runtime.data_dir)
    bind_host = host or settings.host
    bind_port = port or settings.port
    log.info(
        "serving on http://%s:%s (database %s, data %s)",
        bind_host,
        bind_port,
        runtime.database.safe(),
        runtime.data_dir,
    )
    uvicorn.run(
        "doable.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=None if reload else workers,
        reload=reload,
        # The web app compiles each template once (web/views.py): an edited one needs a restart.
        reload_includes=["*.html"] if reload else None,
        # The app reads X-Forwarded-* itself (doable.proxy): uvicorn's reading of
        # FORWARDED_ALLOW_IPS="*" takes the leftmost X-Forwarded-For entry, which the client
        # chooses.
        proxy_headers=False,
        # Doable serves no WebSocket route (its streams are server-sent events): without this,
        # uvicorn imports `websockets` at start for upgrades it would only refuse.
        ws="none",
        # On SIGTERM: stop accepting, tell event streams to reconnect elsewhere, and give
        # in-flight requests this long to finish.
        timeout_graceful_shutdown=settings.shutdown_drain_seconds,
        # With --workers, the parent restarts a worker that does not answer its health check
        # within this time. uvicorn's 5 s default killed workers that were still importing on
        # a busy machine, over and over, so none ever served.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        access_log=False,
        log_config=None,
        server_header=False,
    )


@app.command()
def check() -> None:
    """Print the configuration (secrets masked) and test the database connection."""
    from rich.table import Table

    from doable.migrations import current_revision, head_revision

    runtime = load_runtime()
    s = runtime.settings
    table = Table("setting", "value", title="Doable configuration")
    table.add_row("DATABASE_URL", runtime.database.safe())
    table.add_row("DOABLE_DATA_DIR", str(runtime.data_dir))
    table.add_row(
        "SECRET_KEY",
        "set" if s.secret_key else f"generated, kept in {runtime.data_dir / 'secret_key'}",
    )
    table.add_row("AUTH_JWT_SECRET", "set" if s.auth_jwt_secret else "(unset)")
    table.add_row("METRICS_TOKEN", "set" if s.metrics_token else "(unset)")
    table.add_row("AUTH_JWKS_URL", redact_url(s.auth_jwks_url) if s.auth_jwks_url else "None")
    # A Redis URL may carry a password (redis://:password@host).
    table.add_row("REDIS_URL", redact_url(s.redis_url) if s.redis_url else "None")
    events_db = runtime.events_database
    table.add_row(
        "EVENTS_DATABASE_URL",
        events_db.safe() if s.events_database_url and events_db else "None",
    )
    masked = {
        *("database_url", "data_dir", "secret_key", "auth_jwt_secret", "auth_jwks_url"),
        *("metrics_token", "redis_url", "events_database_url"),
    }
    for name, value in s.model_dump(exclude=masked).items():
        table.add_row(str(Settings.model_fields[name].validation_alias), str(value))
    out().print(table)

    async def probe() -> str | None:
        database = Database(runtime.database)
        try:
            return await current_revision(database.engine)
        finally:
            await database.dispose()

    try:
        revision = run(probe())
    except Exception as exc:
        refusal = database_refusal(exc)
        if refusal is not None:
            fail(_refused(runtime, refusal))
        fail(f"database unreachable: {type(exc).__name__}")
    head = head_revision()
    state = "at head" if revision == head else f"needs `doable migrate` (head is {head})"
    out().print(f"database: reachable, revision {revision or 'none'}, {state}", highlight=False)


def _read_password(password_stdin: bool, confirm: bool = True) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    return value


def _validate_password(password: str) -> str:
    from doable.auth.schemas import PasswordChangeIn

    try:
        PasswordChangeIn(current_password="unused", new_password=password)  # noqa: S106
    except ValidationError as exc:
        fail(f"password {exc.errors()[0]['msg'].lower()}")
    return password


def _with_session(fn: Callable[..., Awaitable[T]], runtime: RuntimeConfig) -> T:
    from doable.state import AppState

    async def go() -> T:
        database = Database(runtime.database)
        try:
            async with database.write_sessions() as session:
                result = await fn(session, AppState.build(runtime))
                await session.commit()
                return result
        finally:
            await database.dispose()

    return run(go())


@users_app.command("create")
def users_create(
    email: str,
    name: Annotated[str, typer.Option(help="Display name")] = "",
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="Make the account an admin")] = False,
) -> None:
    """Create an account (whatever SIGNUP says)."""
    from doable.auth import service
    from doable.auth.schemas import SignupIn
    from doable.errors import DoableError

    runtime = load_runtime()
    password = _validate_password(_read_password(password_stdin))
    try:
        data = SignupIn(email=email, password=password, name=name)
    except ValidationError as exc:
        e = exc.errors()[0]
        fail(f"{'.'.join(map(str, e['loc']))}: {e['msg']}")
    _migrate(runtime)

    async def go(session, state):  # type: ignore[no-untyped-def]
        user = await service.create_user(
            session, state, email=data.email, password=password, name=data.name
        )
        user.is_admin = admin
        return user

    try:
        user = _with_session(go, runtime)
    except DoableError as exc:
        fail(exc.detail)
    role = " as an admin" if admin else ""
    out().print(f"created {user.email} ({user.id}){role}", highlight=False)


@users_app.command("list")
def users_list() -> None:
    """List accounts."""
    from rich.table import Table

    from doable.auth import service

    runtime = load_runtime()
    users = _with_session(lambda s, st: service.list_users(s), runtime)
    table = Table("id", "email", "name", "created", "admin", "disabled")
    for u in users:
        table.add_row(
            str(u.id),
            u.email,
            u.name,
            u.created_at.isoformat(timespec="seconds"),
            "yes" if u.is_admin else "",
            u.disabled_at.isoformat(timespec="seconds") if u.disabled_at else "",
        )
    out().print(table)


@users_app.command("set-password")
def users_set_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input")
    ] = False,
) -> None:
    """Set an account's password; signs it out everywhere."""
    from doable.auth import service

    runtime = load_runtime()
    password = _validate_password(_read_password(password_stdin))

    async def go(session, state) -> bool:  # type: ignore[no-untyped-def]
        user = await service.get_by_email(session, email)
        if user is None:
            return False
        await service.set_password(session, state, user, password)
        return True

    if not _with_session(go, runtime):
        fail(f"no account with email {email}")
    out().print(f"password changed for {email.strip().lower()}", highlight=False)


@users_app.command("delete")
def users_delete(
    email: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete an account and all its data."""
    from doable.auth import service

    runtime = load_runtime()
    if not yes:
        typer.confirm(f"Delete {email} and all its tasks?", abort=True)

    async def go(session, state) -> bool:  # type: ignore[no-untyped-def]
        user = await service.get_by_email(session, email)
        if user is None:
            return False
        await service.delete_user(session, user.id)
        return True

    if not _with_session(go, runtime):
        fail(f"no account with email {email}")
    out().print(f"deleted {email.strip().lower()}", highlight=False)


def _base_url(given: str | None, runtime: RuntimeConfig) -> str:
    return given or f"http://{runtime.settings.host}:{runtime.settings.port}"


BaseUrl = Annotated[
    str | None,
    typer.Option(
        help="The server's public address, which the link starts with (default: http://HOST:PORT)"
    ),
]


def _account_change(
    email: str, change: Callable[..., Awaitable[str]], runtime: RuntimeConfig
) -> str:
    """Run `change(session, state, user)` on the account with `email`, committed; its answer."""
    from doable.auth import service
    from doable.errors import DoableError

    async def go(session, state) -> str | None:  # type: ignore[no-untyped-def]
        user = await service.get_by_email(session, email)
        if user is None:
            return None
        return await change(session, state, user)

    try:
        answer = _with_session(go, runtime)
    except DoableError as exc:
        fail(exc.detail)
    if answer is None:
        fail(f"no account with email {email}")
    return answer


@users_app.command("set-admin")
def users_set_admin(
    email: str,
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the admin role away")] = False,
) -> None:
    """Make an account an admin (or, with --revoke, no longer one)."""
    from doable.accounts import service as accounts

    runtime = load_runtime()

    async def change(session, state, user) -> str:  # type: ignore[no-untyped-def]
        await accounts.set_admin(session, user, not revoke)
        return f"{user.email} is {'no longer ' if revoke else ''}an admin"

    out().print(_account_change(email, change, runtime), highlight=False)


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Disable an account: it cannot sign in, and its sessions, tokens and feeds stop."""
    from doable.accounts import service as accounts

    runtime = load_runtime()

    async def change(session, state, user) -> str:  # type: ignore[no-untyped-def]
        await accounts.disable_user(session, state, user)
        return f"disabled {user.email}"

    out().print(_account_change(email, change, runtime), highlight=False)


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Let a disabled account sign in again."""
    from doable.accounts import service as accounts

    runtime = load_runtime()

    async def change(session, state, user) -> str:  # type: ignore[no-untyped-def]
        await accounts.enable_user(session, user)
        return f"enabled {user.email}"

    out().print(_account_change(email, change, runtime), highlight=False)


@users_app.command("reset-link")
def users_reset_link(email: str, base_url: BaseUrl = None) -> None:
    """Print a one-time password-reset link for the account (valid RESET_LINK_MINUTES)."""
    from doable.accounts import service as accounts

    runtime = load_runtime()
    base = _base_url(base_url, runtime)

    async def change(session, state, user) -> str:  # type: ignore[no-untyped-def]
        if user.disabled_at is not None:
            fail(f"{user.email} is disabled; enable it first (doable users enable)")
        url, _ = accounts.make_reset_link(state, user, base)
        return url

    out().print(_account_change(email, change, runtime), highlight=False, soft_wrap=True)


@users_app.command("invite")
def users_invite(email: str, base_url: BaseUrl = None) -> None:
    """Print a sign-up invitation link bound to EMAIL (valid INVITE_LINK_DAYS)."""
    from doable.accounts import service as accounts
    from doable.accounts.schemas import SignupInvitationCreate
    from doable.errors import DoableError

    runtime = load_runtime()
    base = _base_url(base_url, runtime)
    try:
        data = SignupInvitationCreate(email=email)
    except ValidationError as exc:
        fail(f"email: {exc.errors()[0]['msg']}")
    try:
        _, url, _ = _with_session(lambda s, st: accounts.invite(s, st, data.email, base), runtime)
    except DoableError as exc:
        fail(exc.detail)
    out().print(url, highlight=False, soft_wrap=True)


# Export and import


def _progress() -> Progress:
    """A progress bar on stderr, so stdout carries only the export."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err(),
        transient=True,
    )


@app.command("export")
def export_command(
    user: Annotated[str, typer.Option("--user", help="Email of the account to export")],
    fmt: Annotated[str, typer.Option("--format", help="json (everything) or csv")] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
) -> None:
    """Export an account's data (docs/export-format.md) to stdout or a file."""
    from doable.auth import service as auth_service
    from doable.db import utcnow
    from doable.transfer import service

    if fmt not in ("json", "csv"):
        fail("--format must be json or csv")
    export_format: service.ExportFormat = "csv" if fmt == "csv" else "json"
    runtime = load_runtime()

    async def go() -> bool:
        database = Database(runtime.database)
        try:
            async with database.snapshot() as session:
                account = await auth_service.get_by_email(session, user)
                if account is None:
                    return False
                owner = service.Owner.of(account)
                total = await service.count_tasks(session, owner.id)
                stream = output.open("wb") if output is not None else sys.stdout.buffer
                try:
                    with _progress() as progress:
                        bar = progress.add_task("exporting", total=total)
                        async for piece in service.export_chunks(
                            session,
                            owner,
                            export_format,
                            now=utcnow(),
                            progress=lambda n: progress.advance(bar, n),
                        ):
                            stream.write(piece.encode())
                finally:
                    stream.flush()
                    if output is not None:
                        stream.close()
                err().print(f"exported {total} tasks of {owner.email}", highlight=False)
                return True
        finally:
            await database.dispose()

    try:
        found = run(go())
    except OSError as exc:
        fail(f"cannot write the export: {exc.strerror or exc}")
    except Exception as exc:
        if is_db_unavailable(exc):
            fail(f"database unreachable: {type(exc).__name__}")
        raise
    if not found:
        fail(f"no account with email {user}")


_MEDIA_TYPES = {".json": "application/json", ".csv": "text/csv"}


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A JSON or CSV export, or a Todoist project CSV")],
    user: Annotated[str, typer.Option("--user", help="Email of the account to import into")],
    apply_settings: Annotated[
        bool, typer.Option(help="Also set the account's name and time zone from a JSON export")
    ] = False,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Name of the project a Todoist CSV becomes (default: the file's name)",
        ),
    ] = None,
) -> None:
    """Import a file into an account, all or nothing (the same checks as POST /api/v1/import)."""
    import anyio
    from pydantic import TypeAdapter

    from doable.auth import service as auth_service
    from doable.db import utcnow
    from doable.errors import DoableError
    from doable.transfer import importer
    from doable.transfer.parse import DEFAULT_PROJECT_NAME, open_upload
    from doable.transfer.schemas import ProjectName
    from doable.zones import zone_of

    names = TypeAdapter(ProjectName)
    if project is not None:
        try:
            project = names.validate_python(project)
        except ValidationError as exc:
            fail(f"--project: {exc.errors()[0]['msg']}")
    try:  # the file's name, as the web form does; cut to fit
        default_name = names.validate_python(file.stem[:120])
    except ValidationError:
        default_name = DEFAULT_PROJECT_NAME
    runtime = load_runtime()
    try:
        body = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")

    async def go() -> importer.ImportOutcome | None:
        database = Database(runtime.database)
        try:
            async with database.read_sessions() as session:
                account = await auth_service.get_by_email(session, user)
                if account is None:
                    return None
                account_id, timezone = account.id, account.timezone
            now = utcnow()
            with err().status("reading the file"):
                stream = open_upload(
                    body,
                    _MEDIA_TYPES.get(file.suffix.lower()),
                    timezone=timezone,
                    now=now,
                    project_name=project,
                    default_name=default_name,
                )
            settings = stream.account if apply_settings else None
            zone = zone_of(settings.timezone if settings is not None else timezone)
            with _progress() as progress:
                bar = progress.add_task("validating and staging", total=None)
                batch = await importer.stage(
                    database,
                    account_id,
                    stream,
                    zone=zone,
                    now=now,
                    offload=anyio.to_thread.run_sync,
                    progress=lambda n: progress.advance(bar, n),
                )
            try:
                async with database.unit_of_work(write=True) as session:
                    return await importer.publish(session, batch, stream, settings)
            except BaseException:
                await importer.discard(database, batch)
                raise
        finally:
            await database.dispose()

    try:
        outcome = run(go())
    except DoableError as exc:
        err().print(f"[bold red]error:[/] {exc.detail}", highlight=False, markup=True)
        for problem in getattr(exc, "errors", [])[1:]:
            place = problem.get("pointer") or (
                f"line {problem['line']}" if problem.get("line") else ""
            )
            err().print(f"  {place}: {problem['msg']}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except Exception as exc:
        if is_db_unavailable(exc):
            fail(f"database unreachable: {type(exc).__name__}")
        raise
    if outcome is None:
        fail(f"no account with email {user}")
    for warning in outcome.warnings:
        place = warning.pointer or (f"line {warning.line}" if warning.line else "")
        err().print(f"warning: {place + ': ' if place else ''}{warning.msg}", highlight=False)
    out().print(
        f"imported {outcome.counts.tasks} tasks and {outcome.counts.tags} new tags into "
        f"{user.strip().lower()}",
        highlight=False,
    )
    for made in outcome.projects:
        out().print(f"created project {made.name!r} ({made.id})", highlight=False, markup=False)


@app.command("backup")
def backup_command(
    path: Annotated[Path, typer.Argument(help="New (or empty) folder to write the backup into.")],
    print_only: Annotated[
        bool,
        typer.Option(
            "--print-only", help="PostgreSQL/MariaDB: print the dump command, do not run it."
        ),
    ] = False,
) -> None:
    """Back up the database and the data folder's keys (see docs/operations.md)."""
    from doable.ops.backup import BackupError, backup

    runtime = load_runtime()
    try:
        made = backup(runtime, path, run_tools=not print_only)
    except BackupError as exc:
        fail(str(exc))
    for name in made.files:
        out().print(f"wrote {path / name}", highlight=False)
    if made.pending_command is not None:
        err().print(
            f"The {made.backend} dump was not made here. Run this (fill in the password):",
            highlight=False,
        )
        out().print(made.pending_command, highlight=False, markup=False)
    if runtime.settings.secret_key is not None:
        err().print(
            "SECRET_KEY comes from the environment: keep it with this backup yourself.",
            highlight=False,
        )
