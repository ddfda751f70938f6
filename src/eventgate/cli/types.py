"""`eventgate type list|create|activate|deactivate|delete`: the event-type registry on the command line.

The same rules as the HTTP registry (service.event_types): codes 1-64 of [A-Za-z0-9_], unique
per workspace ignoring case; SYSTEM types are read-only.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import click

from eventgate.cli import (
    database_url_option,
    emit,
    find_workspace_or_fail,
    json_option,
    main,
    open_existing,
    workspace_option,
)
from eventgate.domain.errors import DomainError
from eventgate.store.database import Database
from eventgate.store.event_types import EventType

STATUS_WORDS = {1: "active", 0: "inactive"}


@contextlib.contextmanager
def _registry(database_url: str, workspace: str) -> Iterator[tuple[Database, str]]:
    """The migrated database and the workspace's id; registry refusals become CLI errors."""
    database = open_existing(database_url)
    try:
        with database.reader.connect() as connection:
            workspace_id = find_workspace_or_fail(connection, workspace).id
        yield database, workspace_id
    except DomainError as error:
        raise click.ClickException(error.message) from None
    finally:
        database.dispose()


def _describe(found: EventType) -> str:
    return f"{found.code} (id {found.id}, {found.type}) is {STATUS_WORDS[found.status]}"


@main.group("type")
def event_type() -> None:
    """Event types: the registry of event_type codes (PushExpress's Custom events API)."""


@event_type.command("list")
@workspace_option
@database_url_option
@json_option
def type_list(workspace: str, database_url: str, as_json: bool) -> None:
    """List every event type of the workspace, SYSTEM and CUSTOM."""
    from eventgate.service.event_types import list_all

    with _registry(database_url, workspace) as (database, workspace_id):
        found = list_all(database, workspace_id)
    if as_json:
        emit(True, {"data": [t.view() for t in found]}, "")
        return
    width = max([len(t.code) for t in found] + [4])
    click.echo(f"{'ID':>6}  {'CODE':<{width}}  {'STATUS':<8}  {'TYPE':<6}  NAME")
    for t in found:
        click.echo(f"{t.id:>6}  {t.code:<{width}}  {STATUS_WORDS[t.status]:<8}  {t.type:<6}  {t.name}")


@event_type.command("create")
@click.option("--code", required=True, help="1-64 of A-Z, a-z, 0-9 and '_'; unique ignoring case.")
@click.option("--name", default=None, help="A human name (default: the code).")
@workspace_option
@database_url_option
@json_option
def type_create(code: str, name: str | None, workspace: str, database_url: str, as_json: bool) -> None:
    """Register a CUSTOM event type (active) and print its id."""
    from eventgate.service.event_types import create_type

    with _registry(database_url, workspace) as (database, workspace_id):
        created = create_type(database, workspace_id, code if name is None else name, code)
    emit(as_json, created.view(), str(created.id))


def _set_active(type_ref: str, active: bool, workspace: str, database_url: str, as_json: bool) -> None:
    from eventgate.service.event_types import find_type, set_type_active

    with _registry(database_url, workspace) as (database, workspace_id):
        found = find_type(database, workspace_id, type_ref)
        changed = set_type_active(database, workspace_id, found.id, active)
    emit(as_json, changed.view(), _describe(changed))


@event_type.command("activate")
@click.argument("type_ref", metavar="CODE_OR_ID")
@workspace_option
@database_url_option
@json_option
def type_activate(type_ref: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Activate an event type: events of it are accepted again."""
    _set_active(type_ref, True, workspace, database_url, as_json)


@event_type.command("deactivate")
@click.argument("type_ref", metavar="CODE_OR_ID")
@workspace_option
@database_url_option
@json_option
def type_deactivate(type_ref: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Deactivate an event type: new events of it are refused (409 event_type_inactive)."""
    _set_active(type_ref, False, workspace, database_url, as_json)


@event_type.command("delete")
@click.argument("type_ref", metavar="CODE_OR_ID")
@workspace_option
@database_url_option
@json_option
def type_delete(type_ref: str, workspace: str, database_url: str, as_json: bool) -> None:
    """Delete a CUSTOM event type that no stored event carries.

    A type still in use is refused (its events would lose their type): deactivate it instead,
    or delete those events first."""
    from eventgate.service.event_types import delete_type, find_type

    with _registry(database_url, workspace) as (database, workspace_id):
        found = find_type(database, workspace_id, type_ref)
        delete_type(database, workspace_id, found.id)
    emit(as_json, {**found.view(), "deleted": True}, f"deleted {found.code} (id {found.id})")
