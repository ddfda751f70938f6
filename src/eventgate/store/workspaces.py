"""Workspaces: creating one sets up its seq counter, SYSTEM event types and default channel."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from eventgate import ids
from eventgate.domain.lifecycle import SYSTEM_TYPE_CODES
from eventgate.domain.times import now_ms
from eventgate.store.schema import channels, event_types, sequences, workspaces

DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str


def create_workspace(connection: sa.Connection, name: str, *, workspace_id: str | None = None) -> Workspace:
    from eventgate.auth.passwords import hash_password

    now = now_ms()
    workspace = Workspace(id=workspace_id or ids.new_workspace_id(), name=name)
    connection.execute(sa.insert(workspaces).values(id=workspace.id, name=name, created_at=now))
    connection.execute(sa.insert(sequences).values(workspace_id=workspace.id, last_seq=0))
    connection.execute(
        sa.insert(event_types),
        [
            {"workspace_id": workspace.id, "name": code.replace("_", " ").capitalize(), "code": code,
             "code_key": code, "status": 1, "type": "SYSTEM", "created_at": now, "updated_at": now}
            for code in SYSTEM_TYPE_CODES
        ],
    )
    # The default channel is reached through API keys (seed 002); nobody knows its password.
    connection.execute(sa.insert(channels).values(
        id=ids.new_channel_id(), workspace_id=workspace.id, name="default",
        password_hash=hash_password(secrets.token_urlsafe(32)), is_default=True,
        created_at=now, password_changed_at=now,
    ))
    return workspace


def ensure_default_workspace(database) -> None:  # type: ignore[no-untyped-def]
    with database.writer.begin() as connection:
        exists = connection.execute(
            sa.select(workspaces.c.id).where(workspaces.c.id == DEFAULT_WORKSPACE)
        ).first()
        if exists is None:
            create_workspace(connection, DEFAULT_WORKSPACE, workspace_id=DEFAULT_WORKSPACE)


def find_workspace(connection: sa.Connection, name_or_id: str) -> Workspace | None:
    row = connection.execute(
        sa.select(workspaces.c.id, workspaces.c.name).where(
            sa.or_(workspaces.c.id == name_or_id, workspaces.c.name == name_or_id)
        )
    ).first()
    return Workspace(row.id, row.name) if row else None


def list_workspaces(connection: sa.Connection) -> list[Workspace]:
    rows = connection.execute(sa.select(workspaces.c.id, workspaces.c.name).order_by(workspaces.c.created_at))
    return [Workspace(r.id, r.name) for r in rows]
