"""The `eventgate` command: serve, migrate, and administration of channels and keys.

Every `serve` flag also reads an EVENTGATE_* variable (EVENTGATE_WORKERS for --workers, …)."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Mapping

import click

from eventgate.cli.workers import SUPERVISOR_PID, share_metrics
from eventgate.config import MAX_WORKERS, Settings, default_workers

DURATION = re.compile(r"^([0-9]+)([smhdw])\Z")
DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

DEFAULT_DATA_DIR = "./data"
DATABASE_FILE = "eventgate.db"


def database_url_in(data_dir: str) -> str:
    """The SQLite database of a data directory, as an absolute URL (the same from any directory)."""
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / DATABASE_FILE}"


def database_url_option(function):  # type: ignore[no-untyped-def]
    """--database-url and --data-dir, handed to the command as one resolved `database_url`."""

    @functools.wraps(function)
    def resolved(*args: Any, database_url: str | None, data_dir: str, **kwargs: Any) -> Any:
        return function(*args, database_url=database_url or database_url_in(data_dir), **kwargs)

    resolved = click.option(
        "--data-dir", envvar="EVENTGATE_DATA_DIR", default=DEFAULT_DATA_DIR, show_default=True,
        type=click.Path(file_okay=False),
        help=f"Where the SQLite database ({DATABASE_FILE}) lives when no --database-url is given.",
    )(resolved)
    return click.option(
        "--database-url", envvar="EVENTGATE_DATABASE_URL", default=None,
        help="sqlite:///path or postgresql://user@host/db  [default: sqlite under --data-dir]",
    )(resolved)


workspace_option = click.option("--workspace", default="default", show_default=True,
                                help="Workspace name or id.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def parse_duration(text: str) -> int:
    """'90m', '12h', '30d', '2w' → seconds."""
    match = DURATION.match(text.strip())
    if not match:
        raise click.BadParameter("use a number and a unit: 90s, 30m, 12h, 30d, 2w", param_hint="--expires")
    return int(match.group(1)) * DURATION_SECONDS[match.group(2)]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def settings_from_environment(env: Mapping[str, str]) -> Settings:
    settings = Settings()
    settings.host = env.get("EVENTGATE_HOST", settings.host)
    settings.port = int(env.get("EVENTGATE_PORT", settings.port))
    settings.database_url = env.get("EVENTGATE_DATABASE_URL") or (
        database_url_in(env["EVENTGATE_DATA_DIR"]) if env.get("EVENTGATE_DATA_DIR") else settings.database_url)
    settings.broker_url = env.get("EVENTGATE_BROKER_URL") or None
    settings.gateway_token = env.get("EVENTGATE_GATEWAY_TOKEN") or None
    settings.workers = int(env.get("EVENTGATE_WORKERS") or settings.workers)
    settings.strict_event_types = _truthy(env.get("EVENTGATE_STRICT_EVENT_TYPES"))
    if env.get("EVENTGATE_IDEMPOTENCY_RETENTION_DAYS"):
        settings.idempotency_retention_days = float(env["EVENTGATE_IDEMPOTENCY_RETENTION_DAYS"])
    if env.get("EVENTGATE_WRITE_TIMEOUT"):
        settings.write_timeout = float(env["EVENTGATE_WRITE_TIMEOUT"])
    if env.get("EVENTGATE_WRITE_QUEUE_SIZE"):
        settings.write_queue_size = int(env["EVENTGATE_WRITE_QUEUE_SIZE"])
    settings.log_level = env.get("EVENTGATE_LOG_LEVEL", settings.log_level)
    settings.log_format = env.get("EVENTGATE_LOG_FORMAT") or settings.log_format
    settings.forwarded_allow_ips = env.get("EVENTGATE_FORWARDED_ALLOW_IPS") or None
    if env.get("EVENTGATE_RETENTION_DAYS"):
        settings.retention_days = float(env["EVENTGATE_RETENTION_DAYS"])
    settings.allow_private_destinations = _truthy(env.get("EVENTGATE_ALLOW_PRIVATE_DESTINATIONS"))
    settings.destination_allow_list = env.get("EVENTGATE_DESTINATION_ALLOW_LIST") or None
    settings.public_url = env.get("EVENTGATE_PUBLIC_URL") or None
    if env.get("EVENTGATE_DELIVERY_TIMEOUT"):
        settings.delivery_timeout = float(env["EVENTGATE_DELIVERY_TIMEOUT"])
    return settings


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(payload) if as_json else text)


class OneLineErrors(click.Group):
    """Every command: a database that cannot be opened or migrated is one line and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from eventgate.store.database import DatabaseOpenError

        try:
            return super().invoke(ctx)
        except DatabaseOpenError as error:
            raise OperatorError(str(error)) from None


class OperatorError(click.ClickException):
    def show(self, file=None) -> None:  # type: ignore[no-untyped-def, override]
        click.echo(f"eventgate: {self.format_message()}", file=file, err=True)


@click.group(cls=OneLineErrors,
             context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "EVENTGATE"})
@click.version_option(package_name="eventgate")
def main() -> None:
    """eventgate: a self-hosted event gateway."""


@main.command()
@click.option("--host", envvar="EVENTGATE_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="EVENTGATE_PORT", default=8080, show_default=True, type=int)
@database_url_option
@click.option("--broker-url", envvar="EVENTGATE_BROKER_URL", default=None,
              help="redis://… or nats://… to share subscribers between machines; the processes of one "
                   "serve use a local broker (Unix sockets) without it.")
@click.option("--gateway-token", envvar="EVENTGATE_GATEWAY_TOKEN", default=None,
              help="Require this bearer token on the producer routes.")
@click.option("--workers", envvar="EVENTGATE_WORKERS", default=None, type=click.IntRange(1, MAX_WORKERS),
              help="HTTP worker processes.  [default: one per CPU]")
@click.option("--strict-event-types/--no-strict-event-types", envvar="EVENTGATE_STRICT_EVENT_TYPES",
              default=False, show_default=True, help="Refuse events whose event_type is not registered.")
@click.option("--idempotency-retention-days", envvar="EVENTGATE_IDEMPOTENCY_RETENTION_DAYS", default=7.0,
              show_default=True, type=float)
@click.option("--write-timeout", envvar="EVENTGATE_WRITE_TIMEOUT", default=10.0, show_default=True,
              type=click.FloatRange(0.1, 3600),
              help="Seconds a write waits for its commit before it answers 503 store_unavailable.")
@click.option("--write-queue-size", envvar="EVENTGATE_WRITE_QUEUE_SIZE", default=10_000, show_default=True,
              type=click.IntRange(1, 1_000_000),
              help="Writes waiting at once per process; beyond it a write answers 503 overloaded.")
@click.option("--log-level", envvar="EVENTGATE_LOG_LEVEL", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--log-format", envvar="EVENTGATE_LOG_FORMAT", default="text", show_default=True,
              type=click.Choice(["text", "json"]), help="json: one JSON object per line, for log shippers.")
@click.option("--forwarded-allow-ips", envvar="EVENTGATE_FORWARDED_ALLOW_IPS", default=None,
              help="Behind a reverse proxy: the proxy addresses (comma list, networks, or *) whose "
                   "X-Forwarded-For gives the client address for the password limiter and the logs.")
@click.option("--retention-days", envvar="EVENTGATE_RETENTION_DAYS", default=None,
              type=click.FloatRange(min=0, min_open=True),
              help="Remove closed events (and their operations) older than this many days.  [default: keep all]")
@click.option("--allow-private-destinations/--no-allow-private-destinations",
              envvar="EVENTGATE_ALLOW_PRIVATE_DESTINATIONS", default=False, show_default=True,
              help="Deliver to loopback, private and link-local addresses too (trusted networks only).")
@click.option("--destination-allow-list", envvar="EVENTGATE_DESTINATION_ALLOW_LIST", default=None,
              help="Hosts, addresses or networks (comma list, *.example.com) delivery may reach even when "
                   "they are private.")
@click.option("--delivery-timeout", envvar="EVENTGATE_DELIVERY_TIMEOUT", default=10.0, show_default=True,
              type=click.FloatRange(0.1, 300), help="Seconds a webhook or Apprise send may take.")
@click.option("--public-url", envvar="EVENTGATE_PUBLIC_URL", default=None,
              help="Where people reach this server (https://events.example.com); notifications link to events "
                   "under it.")
def serve(host: str, port: int, database_url: str, broker_url: str | None, gateway_token: str | None,
          workers: int | None, strict_event_types: bool, idempotency_retention_days: float, write_timeout: float,
          write_queue_size: int, log_level: str, log_format: str, forwarded_allow_ips: str | None,
          retention_days: float | None, allow_private_destinations: bool, destination_allow_list: str | None,
          delivery_timeout: float, public_url: str | None) -> None:
    """Run the server (SQLite in --data-dir, ./data by default, when no database is given), one process per CPU.

    The processes share live subscribers through a local broker (Unix sockets in a directory
    private to the database) unless --broker-url names Redis or NATS, which several machines need."""
    import uvicorn

    from eventgate.log_redaction import logging_config
    from eventgate.store.database import is_sqlite, normalize_url

    workers = workers or default_workers()
    if broker_url and broker_url.lower().startswith("local:"):
        from eventgate.broker.local import directory_of

        try:
            directory_of(broker_url)
        except ValueError as error:
            raise click.UsageError(str(error)) from None
    if workers > 1:
        if is_sqlite(normalize_url(database_url)) and _sqlite_in_memory(database_url):
            raise click.UsageError("an in-memory SQLite database belongs to one process: use --workers 1 "
                                   "or a database file.")
        if broker_url and broker_url.startswith("memory:"):
            raise click.UsageError("--broker-url memory: carries nothing between processes; leave it out "
                                   "with --workers > 1 (the processes then use a local broker).")
        if not broker_url:
            from eventgate.broker.local import local_broker_url

            broker_url = local_broker_url(database_url)
    if not (is_sqlite(normalize_url(database_url)) and _sqlite_in_memory(database_url)):
        # Migrate once here, before the workers start together (each would otherwise wait for
        # the others' migration, and a slow one would make them fail to start); a failure is
        # one line here rather than a traceback from inside the server's start-up.
        open_migrated(database_url).dispose()
    environment = {
        "EVENTGATE_HOST": host, "EVENTGATE_PORT": str(port), "EVENTGATE_DATABASE_URL": database_url,
        "EVENTGATE_BROKER_URL": broker_url or "", "EVENTGATE_GATEWAY_TOKEN": gateway_token or "",
        "EVENTGATE_WORKERS": str(workers), "EVENTGATE_STRICT_EVENT_TYPES": "1" if strict_event_types else "",
        "EVENTGATE_IDEMPOTENCY_RETENTION_DAYS": str(idempotency_retention_days),
        "EVENTGATE_WRITE_TIMEOUT": str(write_timeout), "EVENTGATE_WRITE_QUEUE_SIZE": str(write_queue_size),
        "EVENTGATE_LOG_LEVEL": log_level, "EVENTGATE_LOG_FORMAT": log_format,
        "EVENTGATE_FORWARDED_ALLOW_IPS": forwarded_allow_ips or "",
        "EVENTGATE_RETENTION_DAYS": str(retention_days) if retention_days else "",
        "EVENTGATE_ALLOW_PRIVATE_DESTINATIONS": "1" if allow_private_destinations else "",
        "EVENTGATE_DESTINATION_ALLOW_LIST": destination_allow_list or "",
        "EVENTGATE_PUBLIC_URL": public_url or "",
        "EVENTGATE_DELIVERY_TIMEOUT": str(delivery_timeout),
        # Workers watch their supervisor and stop when it is gone (cli/workers.py).
        SUPERVISOR_PID: str(os.getpid()) if workers > 1 else "",
    }
    os.environ.update(environment)
    if workers > 1:
        share_metrics()  # any worker answers a scrape with every worker's metrics (cli/workers.py)
    uvicorn.run(
        "eventgate.cli.workers:app_for_worker", factory=True, host=host, port=port, workers=workers,
        loop="uvloop", http="eventgate.api.http_transport:OneWriteHttpProtocol", log_level=log_level, access_log=False,
        # Forwarded headers only from the proxies the operator names (never from anyone by default).
        proxy_headers=bool(forwarded_allow_ips), forwarded_allow_ips=forwarded_allow_ips or "127.0.0.1",
        timeout_graceful_shutdown=10, log_config=logging_config(log_level, log_format),  # no secret in any log line
        # Live frames are encoded once and written as the same bytes to every subscriber
        # (api/live_transport.py); per-connection compression would cost a zlib context (tens
        # of KB) per subscriber and a compression per frame per subscriber.
        ws="eventgate.api.live_transport:LiveWebSocketProtocol", ws_per_message_deflate=False,
    )


def _sqlite_in_memory(database_url: str) -> bool:
    import sqlalchemy as sa

    from eventgate.store.database import normalize_url

    name = sa.make_url(normalize_url(database_url)).database
    return not name or name == ":memory:" or "mode=memory" in database_url


def open_migrated(database_url: str):  # type: ignore[no-untyped-def]
    from eventgate.store.database import migrate, open_database

    import alembic.util
    import sqlalchemy as sa

    from eventgate.store.database import DatabaseOpenError, redact_url

    database = open_database(database_url)
    try:
        migrate(database)
    except (alembic.util.CommandError, sa.exc.SQLAlchemyError) as error:
        database.dispose()
        reason = str(getattr(error, "orig", None) or error).splitlines()[0][:300]
        raise DatabaseOpenError(f"cannot migrate the database {redact_url(database_url)}: {reason}") from None
    return database


def require_existing_database(database_url: str) -> None:
    """An administration command works on the server's database and never creates one: a SQLite
    file that does not exist is an error naming the path, not a new empty database."""
    import sqlalchemy as sa

    from eventgate.store.database import is_sqlite, normalize_url

    url = normalize_url(database_url)
    if not is_sqlite(url) or _sqlite_in_memory(database_url):
        return
    path = Path(sa.make_url(url).database or "").expanduser().resolve()
    if not path.is_file():
        raise click.UsageError(
            f"no eventgate database at {path}. Point this command at the server's data with "
            f"--data-dir DIR (or EVENTGATE_DATA_DIR; the database is DIR/{DATABASE_FILE}) or --database-url URL; "
            f"`eventgate serve` or `eventgate migrate` creates a new one.")


def open_existing(database_url: str):  # type: ignore[no-untyped-def]
    """The migrated database of an administration command; it must exist already (SQLite)."""
    require_existing_database(database_url)
    return open_migrated(database_url)


def find_workspace_or_fail(connection, name: str):  # type: ignore[no-untyped-def]
    from eventgate.store.workspaces import find_workspace

    workspace = find_workspace(connection, name)
    if workspace is None:
        raise click.UsageError(f"no workspace {name!r}")
    return workspace


@main.command()
@database_url_option
def migrate(database_url: str) -> None:
    """Apply schema migrations (serve also does this at start)."""
    from eventgate.store.database import current_revision

    database = open_migrated(database_url)
    click.echo(f"database at revision {current_revision(database)}")
    database.dispose()



def _register_commands() -> None:
    # Each area of administration lives in its own module and adds its commands here.
    from eventgate.cli import admin  # noqa: F401
    from eventgate.cli import backup  # noqa: F401
    from eventgate.cli import channel_tokens  # noqa: F401
    from eventgate.cli import destinations  # noqa: F401
    from eventgate.cli import send  # noqa: F401
    from eventgate.cli import types  # noqa: F401
    from eventgate.cli import watch  # noqa: F401


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
