"""`eventgate workspace|channel|key …`: administration from the command line."""

from __future__ import annotations

import click

from eventgate.auth.keys import DEFAULT_SCOPES, SCOPES
from eventgate.cli import (
    database_url_option,
    emit,
    find_workspace_or_fail,
    json_option,
    main,
    open_migrated,
    parse_duration,
    workspace_option,
)


@main.group()
def workspace() -> None:
    """Workspaces (tenants)."""


@workspace.command("create")
@click.option("--name", required=True)
@database_url_option
@json_option
def workspace_create(name: str, database_url: str, as_json: bool) -> None:
    """Create a workspace with its default channel and SYSTEM event types."""
    from eventgate.store.workspaces import create_workspace, find_workspace

    database = open_migrated(database_url)
    with database.writer.begin() as connection:
        if find_workspace(connection, name) is not None:
            raise click.UsageError(f"workspace {name!r} exists")
        created = create_workspace(connection, name)
    emit(as_json, {"workspace_id": created.id, "name": created.name}, created.id)


@main.group()
def channel() -> None:
    """Channels: where producers write."""


@channel.command("create")
@click.option("--name", required=True)
@click.option("--password", required=True, help="8-128 characters.")
@workspace_option
@database_url_option
@json_option
def channel_create(name: str, password: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Create a channel and print its channel_id."""
    from eventgate.auth.passwords import hash_password
    from eventgate.store.channels import create_channel

    password = password.strip()
    if not 8 <= len(password) <= 128:
        raise click.BadParameter("must be 8-128 characters", param_hint="--password")
    database = open_migrated(database_url)
    with database.writer.begin() as connection:
        ws = find_workspace_or_fail(connection, workspace)
        created = create_channel(connection, ws.id, name, hash_password(password))
    emit(as_json, {"channel_id": created.id, "name": created.name, "workspace_id": ws.id}, created.id)


@main.group()
def key() -> None:
    """API keys of a workspace."""


@key.command("create")
@click.option("--user", required=True, help="Who owns the key (a name).")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES),
              help="Repeat for several; default: every scope except admin.")
@click.option("--channel", "channels", multiple=True, help="Restrict the key to these channels (repeat).")
@click.option("--expires", default=None, help="Lifetime such as 30d, 12h, 90m.")
@workspace_option
@database_url_option
@json_option
def key_create(user: str, scopes: tuple[str, ...], channels: tuple[str, ...], expires: str | None,
               workspace: str, database_url: str, as_json: bool) -> None:
    """Create an API key and print it (it is shown only this once)."""
    from eventgate.domain.times import now_ms
    from eventgate.store.keys import create_key

    expires_at = now_ms() + parse_duration(expires) * 1000 if expires else None
    database = open_migrated(database_url)
    with database.writer.begin() as connection:
        ws = find_workspace_or_fail(connection, workspace)
        plain, record = create_key(connection, ws.id, user, tuple(scopes) or DEFAULT_SCOPES,
                                   tuple(channels) or None, expires_at)
    emit(as_json, {"key": plain, "id": record.id, "user_id": user, "scopes": list(record.scopes),
                    "workspace_id": ws.id, "expires_at": expires_at}, plain)
    if not as_json:
        click.echo(f"(key id {record.id}; store the key now, it is not shown again)", err=True)

