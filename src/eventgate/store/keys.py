"""API keys as stored: only their hash, with scopes, channel restriction and expiry."""

from __future__ import annotations

import sqlalchemy as sa

from eventgate.auth.keys import ApiKey, hash_key, new_key, new_key_id
from eventgate.domain.times import now_ms
from eventgate.store import codec
from eventgate.store.schema import api_keys


def _from_row(row: sa.Row) -> ApiKey:
    channel_ids = codec.load(row.channel_ids)
    return ApiKey(
        id=row.id, workspace_id=row.workspace_id, user_id=row.user_id,
        scopes=tuple(codec.load(row.scopes)),
        channel_ids=tuple(channel_ids) if channel_ids is not None else None,
        expires_at=row.expires_at,
    )


def create_key(
    connection: sa.Connection, workspace_id: str, user_id: str, scopes: tuple[str, ...],
    channel_ids: tuple[str, ...] | None = None, expires_at: int | None = None,
) -> tuple[str, ApiKey]:
    """Store a new key and return (the plain key, shown once; its record)."""
    plain = new_key()
    key_id = new_key_id()
    connection.execute(sa.insert(api_keys).values(
        id=key_id, workspace_id=workspace_id, user_id=user_id, key_hash=hash_key(plain),
        scopes=codec.dump(list(scopes)),
        channel_ids=codec.dump(list(channel_ids)) if channel_ids is not None else None,
        expires_at=expires_at, created_at=now_ms(), revoked_at=None,
    ))
    return plain, ApiKey(key_id, workspace_id, user_id, tuple(scopes), channel_ids, expires_at)


def find_active_key(connection: sa.Connection, plain: str) -> ApiKey | None:
    """The key's record if it exists, is not revoked and has not expired."""
    row = connection.execute(
        sa.select(api_keys).where(api_keys.c.key_hash == hash_key(plain), api_keys.c.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    if row.expires_at is not None and row.expires_at <= now_ms():
        return None
    return _from_row(row)


def list_keys(connection: sa.Connection, workspace_id: str) -> list[dict]:
    rows = connection.execute(
        sa.select(api_keys).where(api_keys.c.workspace_id == workspace_id).order_by(api_keys.c.created_at)
    )
    return [
        {"id": r.id, "user_id": r.user_id, "scopes": codec.load(r.scopes),
         "channel_ids": codec.load(r.channel_ids), "expires_at": r.expires_at,
         "created_at": r.created_at, "revoked_at": r.revoked_at}
        for r in rows
    ]


def revoke_key(connection: sa.Connection, workspace_id: str, key_id: str) -> bool:
    result = connection.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.workspace_id == workspace_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now_ms())
    )
    return result.rowcount > 0


# Ids per query: well under every backend's limit on bound parameters.
ACTIVE_CHECK_BATCH = 500


def inactive_key_ids(connection: sa.Connection, key_ids: list[str]) -> set[str]:
    """Those of `key_ids` that are revoked, expired or gone (one primary-key lookup per batch)."""
    now = now_ms()
    active: set[str] = set()
    for start in range(0, len(key_ids), ACTIVE_CHECK_BATCH):
        batch = key_ids[start:start + ACTIVE_CHECK_BATCH]
        active.update(connection.execute(
            sa.select(api_keys.c.id).where(
                api_keys.c.id.in_(batch), api_keys.c.revoked_at.is_(None),
                sa.or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
            )
        ).scalars())
    return set(key_ids) - active
