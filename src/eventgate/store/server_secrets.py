"""The server's own secrets (made by migration 0010)."""

from __future__ import annotations

import sqlalchemy as sa

from eventgate.store.schema import server_secrets


def action_link_secret(connection: sa.Connection) -> bytes:
    value = connection.execute(
        sa.select(server_secrets.c.value).where(server_secrets.c.name == "action_links")).scalar_one()
    return bytes.fromhex(value)
