"""Channel tokens as stored: only their hash, the channel they write to, a name, revocation."""

from __future__ import annotations

import sqlalchemy as sa

from eventgate.auth.channel_tokens import ChannelToken, hash_channel_token, new_channel_token
from eventgate.domain.times import now_ms
from eventgate.store.schema import channel_tokens, channels


def _from_row(row: sa.Row) -> ChannelToken:
    return ChannelToken(id=row.id, workspace_id=row.workspace_id, channel_id=row.channel_id,
                        channel_name=row.channel_name, name=row.name, created_at=row.created_at,
                        revoked_at=row.revoked_at)


def _with_channel() -> sa.Select:
    # Joined with its channel: a deleted channel's tokens find nothing, so they stop working with it.
    return (sa.select(channel_tokens, channels.c.name.label("channel_name"))
            .join(channels, channels.c.id == channel_tokens.c.channel_id))


def create_token(connection: sa.Connection, workspace_id: str, channel_id: str, name: str) -> tuple[str, ChannelToken]:
    """Store a new token of the channel; returns (the plain token, shown once; its record)."""
    plain = new_channel_token()
    now = now_ms()
    token_id = connection.execute(sa.insert(channel_tokens).values(
        workspace_id=workspace_id, channel_id=channel_id, name=name, token_hash=hash_channel_token(plain),
        created_at=now, revoked_at=None,
    ).returning(channel_tokens.c.id)).scalar_one()
    row = connection.execute(_with_channel().where(channel_tokens.c.id == token_id)).one()
    return plain, _from_row(row)


def find_active_token(connection: sa.Connection, plain: str) -> ChannelToken | None:
    """The token's record if it exists, is not revoked and its channel still exists."""
    row = connection.execute(_with_channel().where(
        channel_tokens.c.token_hash == hash_channel_token(plain), channel_tokens.c.revoked_at.is_(None),
    )).first()
    return _from_row(row) if row is not None else None


def inactive_token_ids(connection: sa.Connection, token_ids: list[int]) -> set[int]:
    """Of `token_ids`, those revoked, gone, or whose channel is gone."""
    if not token_ids:
        return set()
    active = {row.id for row in connection.execute(
        sa.select(channel_tokens.c.id).join(channels, channels.c.id == channel_tokens.c.channel_id)
        .where(channel_tokens.c.id.in_(token_ids), channel_tokens.c.revoked_at.is_(None)))}
    return set(token_ids) - active


def list_tokens(connection: sa.Connection, channel_id: str) -> list[ChannelToken]:
    rows = connection.execute(_with_channel().where(channel_tokens.c.channel_id == channel_id)
                              .order_by(channel_tokens.c.id))
    return [_from_row(row) for row in rows]


def get_token(connection: sa.Connection, token_id: int) -> ChannelToken | None:
    row = connection.execute(_with_channel().where(channel_tokens.c.id == token_id)).first()
    return _from_row(row) if row is not None else None


def revoke_token(connection: sa.Connection, token_id: int) -> bool:
    result = connection.execute(
        sa.update(channel_tokens).where(channel_tokens.c.id == token_id, channel_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now_ms())
    )
    return result.rowcount > 0
