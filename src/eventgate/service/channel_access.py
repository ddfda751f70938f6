"""Checking a channel password on every producer request without paying argon2 every time."""

from __future__ import annotations

import asyncio
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
        self._loading: dict[str, asyncio.Future[Channel | None]] = {}

    def _load(self, channel_id: str) -> Channel | None:
        with self.database.reader.connect() as connection:
            return get_channel(connection, channel_id)

    async def get(self, channel_id: str) -> Channel | None:
        cached = self._cache.get(channel_id)
        if cached is not None and time.monotonic() - cached[0] < CHANNEL_CACHE_SECONDS:
            return cached[1]
        # One load per channel at a time: when an entry expires under load, every request
        # arriving meanwhile waits for that load instead of starting its own.
        pending = self._loading.get(channel_id)
        if pending is None:
            pending = self._loading[channel_id] = asyncio.ensure_future(self._refresh(channel_id))
        return await asyncio.shield(pending)

    async def _refresh(self, channel_id: str) -> Channel | None:
        now = time.monotonic()
        try:
            channel = await anyio.to_thread.run_sync(self._load, channel_id)
        finally:
            current = self._loading.get(channel_id)
            still_current = current is not None and current is asyncio.current_task()
            if still_current:
                del self._loading[channel_id]
        if still_current:  # not invalidated while loading: what we read may be cached
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[channel_id] = (now, channel)
        return channel

    def invalidate(self, channel_id: str) -> None:
        self._cache.pop(channel_id, None)
        self._loading.pop(channel_id, None)  # a load already under way may have read the old row


class ChannelAuthenticator:
    def __init__(self, directory: ChannelDirectory, limiter: AttemptLimiter) -> None:
        self.directory = directory
        self.limiter = limiter
        self.cache = VerificationCache()
        self._pending: dict[bytes, asyncio.Future[bool]] = {}

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
        key = self.cache.key(channel.id, channel.password_hash, password)
        if self.cache.contains_key(key):
            return channel
        if await self._verify_once(key, channel.password_hash, password):
            return channel
        self.limiter.record_failure(channel_id, address)
        raise DomainError(403, "password_mismatch", "the channel password is wrong")

    async def _verify_once(self, key: bytes, password_hash: str, password: str) -> bool:
        """The slow hash, run once for all requests that present the same uncached password together.

        Without this, a burst of requests to a channel nobody has verified yet (a fresh start, a
        new password) would start one argon2 verification each: 64 MiB and tens of ms apiece."""
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._verify_slow(key, password_hash, password))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        # shield: one cancelled request must not cancel the verification the others wait for.
        return await asyncio.shield(pending)

    async def _verify_slow(self, key: bytes, password_hash: str, password: str) -> bool:
        if await anyio.to_thread.run_sync(verify_password_slow, password_hash, password):
            self.cache.add_key(key)
            return True
        return False
