"""Channel tokens: creating, listing and revoking them (admin API and CLI), and finding the
token an intake request presents (ntfy, Gotify) without a query on every request.

Revocation: the process that revokes forgets the token at once (`ChannelTokenDirectory.forget`);
other processes hold a found token for at most CACHE_SECONDS, so a token revoked elsewhere (the
CLI, another server process) stops working within about a second. Unknown tokens are not cached,
so a token created elsewhere works at once.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import anyio
import sqlalchemy as sa

from eventgate.auth.channel_tokens import ChannelToken, hash_channel_token, looks_like_channel_token
from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError, not_found
from eventgate.domain.times import ms_to_seconds
from eventgate.store import channel_tokens as token_store
from eventgate.store import channels as channel_store
from eventgate.store.database import Database, is_store_unavailable
from eventgate.store.group_commit import store_unavailable

CACHE_SECONDS = 1.0
MAX_CACHED = 10_000
MAX_NAME = 128


def token_view(token: ChannelToken) -> dict[str, Any]:
    """A token as the admin API and CLI show it (never its secret or hash)."""
    return {
        "id": token.id,
        "channel_id": token.channel_id,
        "name": token.name,
        "created_at": ms_to_seconds(token.created_at),
        "revoked_at": ms_to_seconds(token.revoked_at),
        "active": token.revoked_at is None,
    }


def token_not_found(token_id: Any) -> DomainError:
    return not_found("token_not_found", f"no active channel token {str(token_id)[:64]!r} here")


def parse_token_id(value: Any) -> int:
    """A token id as given in a path or on the command line; anything else is simply not found."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise token_not_found(value)
    return int(text)


class ChannelTokenAdministration:
    """Synchronous, one transaction each (the CLI calls them directly, the admin API in a thread)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _owned_channel(self, connection: sa.Connection, workspace_id: str, channel_id: str) -> channel_store.Channel:
        channel = channel_store.get_channel(connection, channel_id)
        if channel is None or channel.workspace_id != workspace_id:
            raise not_found("channel_not_found", f"channel {channel_id} does not exist")
        return channel

    def create(self, workspace_id: str, channel_id: str, name: Any) -> tuple[str, dict[str, Any]]:
        """(the plain token — shown once —, its view)."""
        checked = rules.text(name, "name", MAX_NAME)
        with self.database.writer.begin() as connection:
            self._owned_channel(connection, workspace_id, channel_id)
            plain, token = token_store.create_token(connection, workspace_id, channel_id, checked)
        return plain, token_view(token)

    def list(self, workspace_id: str, channel_id: str) -> list[dict[str, Any]]:
        with self.database.reader.connect() as connection:
            self._owned_channel(connection, workspace_id, channel_id)
            return [token_view(token) for token in token_store.list_tokens(connection, channel_id)]

    def revoke(self, workspace_id: str, token_id: int, channel_id: str | None = None) -> ChannelToken:
        """Revoke an active token of the workspace (of `channel_id` when given); returns its record."""
        with self.database.writer.begin() as connection:
            token = token_store.get_token(connection, token_id)
            if (token is None or token.workspace_id != workspace_id or token.revoked_at is not None
                    or (channel_id is not None and token.channel_id != channel_id)):
                raise token_not_found(token_id)
            token_store.revoke_token(connection, token_id)
        return token


class ChannelTokenDirectory:
    """Active tokens by their hash, cached for CACHE_SECONDS (keyed by the hash, never the token)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cache: dict[str, tuple[float, ChannelToken]] = {}
        # Bumped by every forget: a load that began before a revocation must not cache what it read.
        self._generation = 0

    def _load(self, plain: str) -> ChannelToken | None:
        with self.database.reader.connect() as connection:
            return token_store.find_active_token(connection, plain)

    async def find(self, plain: str) -> ChannelToken | None:
        """The active token presented, or None (also for anything that cannot be a token)."""
        if not looks_like_channel_token(plain):
            return None
        key = hash_channel_token(plain)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        started, generation = time.monotonic(), self._generation
        try:
            token = await anyio.to_thread.run_sync(self._load, plain)
        except sa.exc.SQLAlchemyError as error:
            if is_store_unavailable(error):
                raise store_unavailable() from None
            raise
        if token is None or generation != self._generation:
            return token
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[key] = (started, token)
        return token

    def forget(self, token_id: int) -> None:
        """Drop a revoked token at once (this process)."""
        self._forget(lambda token: token.id == token_id)

    def forget_channel(self, channel_id: str) -> None:
        """Drop every token of a deleted channel at once (this process)."""
        self._forget(lambda token: token.channel_id == channel_id)

    def _forget(self, matches: Callable[[ChannelToken], bool]) -> None:
        self._generation += 1
        for key, (_, token) in list(self._cache.items()):
            if matches(token):
                del self._cache[key]
