"""Checking a channel password on every producer request without paying argon2 every time."""

from __future__ import annotations

import time

import anyio

from eventgate.auth.passwords import AttemptLimiter, VerificationCache, verify_password_slow
from eventgate.domain.errors import DomainError, not_found
from eventgate.ids import is_channel_id
from eventgate.store.channels import Channel, get_channel
from eventgate.store.database import Database

CHANNEL_CACHE_SECONDS = 5.0


class ChannelDirectory:
    """Channels by id, cached briefly. Writes re-check the password hash in their transaction,
    so a stale entry can never let a rotated password through; it only costs a retry."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cache: dict[str, tuple[float, Channel | None]] = {}

    def _load(self, channel_id: str) -> Channel | None:
        with self.database.reader.connect() as connection:
            return get_channel(connection, channel_id)

    async def get(self, channel_id: str) -> Channel | None:
        now = time.monotonic()
        cached = self._cache.get(channel_id)
        if cached is not None and now - cached[0] < CHANNEL_CACHE_SECONDS:
            return cached[1]
        channel = await anyio.to_thread.run_sync(self._load, channel_id)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[channel_id] = (now, channel)
        return channel

    def invalidate(self, channel_id: str) -> None:
        self._cache.pop(channel_id, None)


class ChannelAuthenticator:
    def __init__(self, directory: ChannelDirectory, limiter: AttemptLimiter) -> None:
        self.directory = directory
        self.limiter = limiter
        self.cache = VerificationCache()

    async def verify(self, channel_id: str, password: str, address: str) -> Channel:
        """The channel, if it exists and the password is right; else 404, 403 or 429."""
        if not is_channel_id(channel_id):
            raise not_found("channel_not_found", f"channel {channel_id} does not exist")
        retry_after = self.limiter.retry_after(channel_id, address)
        if retry_after is not None:
            raise DomainError(429, "too_many_attempts",
                              f"too many wrong passwords for this channel; retry in {retry_after} s",
                              headers={"Retry-After": str(retry_after)})
        channel = await self.directory.get(channel_id)
        if channel is None:
            raise not_found("channel_not_found", f"channel {channel_id} does not exist")
        if self.cache.contains(channel.id, channel.password_hash, password):
            return channel
        if await anyio.to_thread.run_sync(verify_password_slow, channel.password_hash, password):
            self.cache.add(channel.id, channel.password_hash, password)
            return channel
        self.limiter.record_failure(channel_id, address)
        raise DomainError(403, "password_mismatch", "the channel password is wrong")
