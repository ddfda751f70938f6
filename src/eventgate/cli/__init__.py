"""The `eventgate` command: serve, migrate, and administration of channels and keys.

Every `serve` flag also reads an EVENTGATE_* variable (click's auto_envvar_prefix)."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, Mapping

import click

from eventgate.config import Settings
from eventgate.store.database import DEFAULT_DATABASE_URL

DURATION = re.compile(r"^([0-9]+)([smhdw])\Z")
DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

database_url_option = click.option(
    "--database-url", envvar="EVENTGATE_DATABASE_URL", default=DEFAULT_DATABASE_URL, show_default=True,
    help="sqlite:///path or postgresql://user@host/db",
)
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
    settings.database_url = env.get("EVENTGATE_DATABASE_URL") or settings.database_url
    settings.broker_url = env.get("EVENTGATE_BROKER_URL") or None
    settings.gateway_token = env.get("EVENTGATE_GATEWAY_TOKEN") or None
    settings.workers = int(env.get("EVENTGATE_WORKERS", settings.workers))
    settings.strict_event_types = _truthy(env.get("EVENTGATE_STRICT_EVENT_TYPES"))
    if env.get("EVENTGATE_IDEMPOTENCY_RETENTION_DAYS"):
        settings.idempotency_retention_days = float(env["EVENTGATE_IDEMPOTENCY_RETENTION_DAYS"])
    if env.get("EVENTGATE_WRITE_TIMEOUT"):
        settings.write_timeout = float(env["EVENTGATE_WRITE_TIMEOUT"])
    if env.get("EVENTGATE_WRITE_QUEUE_SIZE"):
        settings.write_queue_size = int(env["EVENTGATE_WRITE_QUEUE_SIZE"])
    settings.log_level = env.get("EVENTGATE_LOG_LEVEL", settings.log_level)
    return settings


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(payload) if as_json else text)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "EVENTGATE"})
@click.version_option(package_name="eventgate")
def main() -> None:
    """eventgate: a self-hosted event gateway."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@database_url_option
@click.option("--broker-url", default=None, help="redis://… or nats://… to share subscribers between processes.")
@click.option("--gateway-token", default=None, help="Require this bearer token on the producer routes.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--strict-event-types", is_flag=True, default=False,
              help="Refuse events whose event_type is not registered.")
@click.option("--idempotency-retention-days", default=7.0, show_default=True, type=float)
@click.option("--write-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds a write waits for its commit before it answers 503 store_unavailable.")
@click.option("--write-queue-size", default=10_000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Writes waiting at once per process; beyond it a write answers 503 overloaded.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(host: str, port: int, database_url: str, broker_url: str | None, gateway_token: str | None,
          workers: int, strict_event_types: bool, idempotency_retention_days: float, write_timeout: float,
          write_queue_size: int, log_level: str) -> None:
    """Run the server (SQLite under ./data/ when no database is given)."""
    import uvicorn

    if workers > 1 and not broker_url:
        raise click.UsageError(
            "--workers > 1 needs --broker-url (redis://… or nats://…): without a broker, a subscriber "
            "connected to one worker would miss events written through another."
        )
    if workers > 1 and database_url.startswith("sqlite"):
        raise click.UsageError("--workers > 1 needs PostgreSQL (--database-url postgresql://…); "
                               "SQLite allows one writing process.")
    environment = {
        "EVENTGATE_HOST": host, "EVENTGATE_PORT": str(port), "EVENTGATE_DATABASE_URL": database_url,
        "EVENTGATE_BROKER_URL": broker_url or "", "EVENTGATE_GATEWAY_TOKEN": gateway_token or "",
        "EVENTGATE_WORKERS": str(workers), "EVENTGATE_STRICT_EVENT_TYPES": "1" if strict_event_types else "",
        "EVENTGATE_IDEMPOTENCY_RETENTION_DAYS": str(idempotency_retention_days),
        "EVENTGATE_WRITE_TIMEOUT": str(write_timeout), "EVENTGATE_WRITE_QUEUE_SIZE": str(write_queue_size),
        "EVENTGATE_LOG_LEVEL": log_level,
    }
    os.environ.update(environment)
    uvicorn.run(
        "eventgate.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
        loop="uvloop", http="eventgate.api.http_transport:OneWriteHttpProtocol", log_level=log_level, access_log=False, proxy_headers=False,
        timeout_graceful_shutdown=10,
        # Live frames are encoded once and written as the same bytes to every subscriber
        # (api/live_transport.py); per-connection compression would cost a zlib context (tens
        # of KB) per subscriber and a compression per frame per subscriber.
        ws="eventgate.api.live_transport:LiveWebSocketProtocol", ws_per_message_deflate=False,
    )


def open_migrated(database_url: str):  # type: ignore[no-untyped-def]
    from eventgate.store.database import migrate, open_database

    database = open_database(database_url)
    migrate(database)
    return database


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
    from eventgate.cli import types  # noqa: F401
    from eventgate.cli import watch  # noqa: F401


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
