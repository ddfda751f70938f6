"""`eventgate channel token create|list|revoke`: the secrets of the intake routes (ntfy, Gotify).

CHANNEL is a channel id, or the name of exactly one channel of the workspace."""

from __future__ import annotations

import click

from eventgate.cli import database_url_option, emit, json_option, workspace_option
from eventgate.cli.admin import _administration, _run, _when, _workspace_id, channel


def _tokens(administration):  # type: ignore[no-untyped-def]
    from eventgate.service.channel_tokens import ChannelTokenAdministration

    return ChannelTokenAdministration(administration.database)


def _channel_id(administration, workspace_id: str, named: str) -> str:  # type: ignore[no-untyped-def]
    found = administration.list_channels(workspace_id)
    for c in found:
        if c["channel_id"] == named.upper():
            return c["channel_id"]
    by_name = [c["channel_id"] for c in found if c["name"] == named]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        raise click.UsageError(f"{len(by_name)} channels are named {named!r}; give the channel id")
    raise click.UsageError(f"no channel {named!r} in this workspace")


@channel.group("token")
def token() -> None:
    """Channel tokens: the one secret ntfy and Gotify clients send (intake routes only)."""


@token.command("create")
@click.argument("channel_name_or_id", metavar="CHANNEL")
@click.option("--name", required=True, help="Who or what uses the token (1-128 characters).")
@workspace_option
@database_url_option
@json_option
def token_create(channel_name_or_id: str, name: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Create a token of CHANNEL and print it (it is shown only this once)."""
    administration = _administration(database_url)
    workspace_id = _workspace_id(administration, workspace)
    channel_id = _channel_id(administration, workspace_id, channel_name_or_id)
    plain, view = _run(lambda: _tokens(administration).create(workspace_id, channel_id, name))
    emit(as_json, {**view, "token": plain}, plain)
    if not as_json:
        click.echo(f"(token id {view['id']}; store the token now, it is not shown again)", err=True)


@token.command("list")
@click.argument("channel_name_or_id", metavar="CHANNEL")
@workspace_option
@database_url_option
@json_option
def token_list(channel_name_or_id: str, workspace: str, database_url: str, as_json: bool) -> None:
    """List the tokens of CHANNEL (never the tokens themselves)."""
    administration = _administration(database_url)
    workspace_id = _workspace_id(administration, workspace)
    channel_id = _channel_id(administration, workspace_id, channel_name_or_id)
    found = _run(lambda: _tokens(administration).list(workspace_id, channel_id))
    lines = [f"{t['id']}  {'active ' if t['active'] else 'revoked'}  {_when(t['created_at'])}  {t['name']}"
             for t in found]
    emit(as_json, {"channel_id": channel_id, "tokens": found}, "\n".join(lines) if lines else "(no tokens)")


@token.command("revoke")
@click.argument("token_id")
@workspace_option
@database_url_option
@json_option
def token_revoke(token_id: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Revoke a channel token: running servers refuse it within about a second."""
    from eventgate.service.channel_tokens import parse_token_id

    administration = _administration(database_url)
    workspace_id = _workspace_id(administration, workspace)
    revoked = _run(lambda: _tokens(administration).revoke(workspace_id, parse_token_id(token_id)))
    emit(as_json, {"id": revoked.id, "channel_id": revoked.channel_id, "revoked": True}, f"revoked {revoked.id}")
