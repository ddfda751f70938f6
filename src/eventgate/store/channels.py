"""Channels: where producers write, each with a password hash."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from eventgate import ids
from eventgate.domain.times import now_ms
from eventgate.store.schema import channel_tokens, channels


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    workspace_id: str
    name: str
    password_hash: str
    is_default: bool
    created_at: int


def _from_row(row: sa.Row) -> Channel:
    return Channel(row.id, row.workspace_id, row.name, row.password_hash, bool(row.is_default), row.created_at)


def create_channel(connection: sa.Connection, workspace_id: str, name: str, password_hash: str) -> Channel:
    now = now_ms()
    channel_id = ids.new_channel_id()
    connection.execute(sa.insert(channels).values(
        id=channel_id, workspace_id=workspace_id, name=name, password_hash=password_hash,
        is_default=False, created_at=now, password_changed_at=now,
    ))
    return Channel(channel_id, workspace_id, name, password_hash, False, now)


def get_channel(connection: sa.Connection, channel_id: str) -> Channel | None:
    row = connection.execute(sa.select(channels).where(channels.c.id == channel_id)).first()
    return _from_row(row) if row else None


def default_channel(connection: sa.Connection, workspace_id: str) -> Channel | None:
    row = connection.execute(
        sa.select(channels).where(channels.c.workspace_id == workspace_id, channels.c.is_default.is_(True))
    ).first()
    return _from_row(row) if row else None


def list_channels(connection: sa.Connection, workspace_id: str) -> list[Channel]:
    rows = connection.execute(
        sa.select(channels).where(channels.c.workspace_id == workspace_id).order_by(channels.c.created_at)
    )
    return [_from_row(r) for r in rows]


def channels_named(connection: sa.Connection, workspace_id: str, ids_or_names: list[str]) -> list[Channel]:
    """The workspace's channels whose id (upper-cased) or name is one of `ids_or_names`."""
    if not ids_or_names:
        return []
    upper = [value.upper() for value in ids_or_names]
    rows = connection.execute(sa.select(channels).where(
        channels.c.workspace_id == workspace_id,
        sa.or_(channels.c.id.in_(upper), channels.c.name.in_(ids_or_names)),
    ).order_by(channels.c.created_at))
    return [_from_row(r) for r in rows]


def set_password(connection: sa.Connection, channel_id: str, password_hash: str) -> bool:
    result = connection.execute(
        sa.update(channels).where(channels.c.id == channel_id)
        .values(password_hash=password_hash, password_changed_at=now_ms())
    )
    return result.rowcount > 0


def rename_channel(connection: sa.Connection, channel_id: str, name: str) -> bool:
    result = connection.execute(sa.update(channels).where(channels.c.id == channel_id).values(name=name))
    return result.rowcount > 0


def delete_channel(connection: sa.Connection, channel_id: str) -> bool:
    """The channel and its tokens (credentials of nothing any more); its events stay."""
    connection.execute(sa.delete(channel_tokens).where(channel_tokens.c.channel_id == channel_id))
    result = connection.execute(sa.delete(channels).where(channels.c.id == channel_id))
    return result.rowcount > 0


def existing_channel_ids(connection: sa.Connection, channel_ids: set[str]) -> set[str]:
    """Those of `channel_ids` that exist (in any workspace)."""
    found: set[str] = set()
    ordered = sorted(channel_ids)
    for start in range(0, len(ordered), 500):
        rows = connection.execute(sa.select(channels.c.id).where(channels.c.id.in_(ordered[start:start + 500])))
        found.update(row.id for row in rows)
    return found
