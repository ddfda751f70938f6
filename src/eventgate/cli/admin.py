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
    open_existing,
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

    database = open_existing(database_url)
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
    database = open_existing(database_url)
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
    database = open_existing(database_url)
    with database.writer.begin() as connection:
        ws = find_workspace_or_fail(connection, workspace)
        plain, record = create_key(connection, ws.id, user, tuple(scopes) or DEFAULT_SCOPES,
                                   tuple(channels) or None, expires_at)
    emit(as_json, {"key": plain, "id": record.id, "user_id": user, "scopes": list(record.scopes),
                    "workspace_id": ws.id, "expires_at": expires_at}, plain)
    if not as_json:
        click.echo(f"(key id {record.id}; store the key now, it is not shown again)", err=True)



# -- listing, rotating, revoking, deleting (the same operations as the admin HTTP API) -----------


def _administration(database_url: str):  # type: ignore[no-untyped-def]
    from eventgate.service.admin import Administration

    return Administration(open_existing(database_url))


def _workspace_id(administration, name: str) -> str:  # type: ignore[no-untyped-def]
    with administration.database.reader.connect() as connection:
        return find_workspace_or_fail(connection, name).id


def _run(action):  # type: ignore[no-untyped-def]
    """Run an administration call; a refused one (DomainError) is a clean CLI error, exit status 1."""
    from eventgate.domain.errors import DomainError

    try:
        return action()
    except DomainError as error:
        raise click.ClickException(error.message) from None


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


@channel.command("list")
@workspace_option
@database_url_option
@json_option
def channel_list(workspace: str, database_url: str, as_json: bool) -> None:
    """List the workspace's channels."""
    administration = _administration(database_url)
    found = administration.list_channels(_workspace_id(administration, workspace))
    lines = [f"{c['channel_id']}  {'default ' if c['is_default'] else '        '}{_when(c['created_at'])}  {c['name']}"
             for c in found]
    emit(as_json, {"channels": found}, "\n".join(lines) if lines else "(no channels)")


@channel.command("rename")
@click.argument("channel_id")
@click.option("--name", required=True, help="The new name (1-128 characters).")
@workspace_option
@database_url_option
@json_option
def channel_rename(channel_id: str, name: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Rename a channel; its id, password, tokens and events stay as they are."""
    administration = _administration(database_url)
    workspace_id = _workspace_id(administration, workspace)
    renamed = _run(lambda: administration.rename_channel(workspace_id, channel_id, name))
    emit(as_json, renamed, f"renamed {channel_id} to {renamed['name']}")


@channel.command("rotate-password")
@click.argument("channel_id")
@click.option("--password", default=None, help="The new password (8-128 characters); default: generate one.")
@workspace_option
@database_url_option
@json_option
def channel_rotate_password(channel_id: str, password: str | None, workspace: str, database_url: str,
                            as_json: bool) -> None:
    """Change a channel's password; a generated one is printed once.

    A running server refuses the old password at once: every write re-checks the hash."""
    administration = _administration(database_url)
    workspace_id = _workspace_id(administration, workspace)
    generated = _run(lambda: administration.rotate_password(workspace_id, channel_id, password))
    payload = {"channel_id": channel_id, **({"password": generated} if generated else {})}
    emit(as_json, payload, generated or f"password of {channel_id} changed")
    if generated and not as_json:
        click.echo("(store the password now, it is not shown again)", err=True)


@channel.command("delete")
@click.argument("channel_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@workspace_option
@database_url_option
@json_option
def channel_delete(channel_id: str, yes: bool, workspace: str, database_url: str, as_json: bool) -> None:
    """Delete a channel (not the default one) and its tokens. Its events and their timelines stay
    readable; live streams limited to it end."""
    if not yes:
        click.confirm(f"Delete channel {channel_id}? Its producers and tokens will no longer be able to write "
                      "(its events stay)", abort=True)
    administration = _administration(database_url)
    workspace_id = _workspace_id(administration, workspace)
    _run(lambda: administration.delete_channel(workspace_id, channel_id))
    emit(as_json, {"channel_id": channel_id, "deleted": True}, f"deleted {channel_id}")


@key.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also revoked and expired keys.")
@workspace_option
@database_url_option
@json_option
def key_list(show_all: bool, workspace: str, database_url: str, as_json: bool) -> None:
    """List the workspace's API keys (never the keys themselves)."""
    administration = _administration(database_url)
    found = [k for k in administration.list_keys(_workspace_id(administration, workspace))
             if show_all or k["active"]]
    lines = []
    for k in found:
        state = "active" if k["active"] else ("revoked" if k["revoked_at"] else "expired")
        channels = ",".join(k["channel_ids"]) if k["channel_ids"] is not None else "all channels"
        lines.append(f"{k['id']}  {state:<7}  {k['user_id']}  {' '.join(k['scopes'])}  [{channels}]"
                     f"  expires {_when(k['expires_at'])}")
    emit(as_json, {"keys": found}, "\n".join(lines) if lines else "(no keys)")


@key.command("revoke")
@click.argument("key_id")
@workspace_option
@database_url_option
@json_option
def key_revoke(key_id: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Revoke an API key: it stops working on its next request."""
    administration = _administration(database_url)
    workspace_id = _workspace_id(administration, workspace)
    _run(lambda: administration.revoke_key(workspace_id, key_id))
    emit(as_json, {"id": key_id, "revoked": True}, f"revoked {key_id}")
