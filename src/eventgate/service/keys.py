"""Looking up the API key a request presents (cached, off the event loop), and ending what a
revoked or expired key still holds open.

Lookups are cached by key hash, at most CACHE_SIZE keys for CACHE_TTL_SECONDS each, so that
ten thousand subscribers connecting with one key, or a busy producer, do not each read the
database. What keeps that safe is the sweep: every SWEEP_SECONDS each server process asks the
store which of the keys it is using (cached ones, and those its open live streams were opened
with) are no longer active — revoked, deleted or expired — then forgets them and ends their
streams (WebSocket 4001, SSE `event: close`). One indexed query sees a revoke made anywhere:
through this process, another worker or another machine, or by `eventgate key revoke`
writing the database directly. A revoke through this process's admin API takes effect here at
once (`revoked`); a key whose expiry has passed is never served from the cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Protocol

import anyio

from eventgate.auth.keys import ApiKey, hash_key
from eventgate.domain.times import now_ms
from eventgate.hub.subscriber import KEY_EXPIRED, KEY_REVOKED
from eventgate.service.periodic import Periodic
from eventgate.store.database import Database
from eventgate.store.keys import find_active_key, inactive_key_ids

log = logging.getLogger("eventgate.keys")

CACHE_SIZE = 4096
CACHE_TTL_SECONDS = 30.0
SWEEP_SECONDS = 1.0


class KeyStreams(Protocol):
    """The live streams of this process, as far as their keys go (the hub)."""

    def keys_in_use(self) -> dict[str, ApiKey]: ...

    def end_streams_of(self, reasons: dict[str, str]) -> int: ...


def _expired(key: ApiKey, now: int) -> bool:
    return key.expires_at is not None and key.expires_at <= now


def _retrieve(task: asyncio.Task[ApiKey | None]) -> None:
    # Whoever awaited it has seen the error; when all of them went away, nobody needs to.
    if not task.cancelled():
        task.exception()


class KeyDirectory:
    def __init__(self, database: Database, *, cache_size: int = CACHE_SIZE, ttl: float = CACHE_TTL_SECONDS,
                 sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.database = database
        self.cache_size = cache_size
        self.ttl = ttl
        # key hash → (key, when it was read): least recently used first.
        self._cache: OrderedDict[str, tuple[ApiKey, float]] = OrderedDict()
        # Lookups in flight, so that a crowd presenting one uncached key reads it once.
        self._pending: dict[str, asyncio.Task[ApiKey | None]] = {}
        # Bumped whenever keys are forgotten: a lookup that started before must not cache
        # what it read (the row may have been read just before the revoke).
        self._generation = 0
        self._streams: KeyStreams | None = None
        self._periodic = Periodic(self.sweep, sweep_seconds, log, "checking the API keys in use failed")

    @property
    def size(self) -> int:
        """How many keys are cached now."""
        return len(self._cache)

    # -- lookups -------------------------------------------------------------------------

    async def find(self, plain: str) -> ApiKey | None:
        """The presented key if it exists, is not revoked and has not expired."""
        digest = hash_key(plain)
        entry = self._cache.get(digest)
        if entry is not None:
            key, read_at = entry
            if time.monotonic() - read_at < self.ttl and not _expired(key, now_ms()):
                self._cache.move_to_end(digest)
                return key
            del self._cache[digest]
        pending = self._pending.get(digest)
        if pending is None:
            # A task of its own: a request that goes away does not cancel the others' lookup.
            pending = self._pending[digest] = asyncio.get_running_loop().create_task(self._read(plain, digest))
            pending.add_done_callback(_retrieve)
        return await asyncio.shield(pending)

    async def _read(self, plain: str, digest: str) -> ApiKey | None:
        generation = self._generation
        read_at = time.monotonic()
        try:
            key = await anyio.to_thread.run_sync(self._find, plain)
        finally:
            if self._pending.get(digest) is asyncio.current_task():
                del self._pending[digest]
        if key is not None and generation == self._generation and self.cache_size > 0:
            self._cache[digest] = (key, read_at)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return key

    def _find(self, plain: str) -> ApiKey | None:
        with self.database.reader.connect() as connection:
            return find_active_key(connection, plain)

    # -- ending keys ---------------------------------------------------------------------

    def revoked(self, key_id: str) -> None:
        """This process revoked the key: refuse it and end its streams now, not at the next sweep."""
        self._end({key_id: KEY_REVOKED})

    def _end(self, reasons: dict[str, str]) -> None:
        self._generation += 1
        self._pending.clear()  # requests from now on read afresh, not a row read before the revoke
        for digest in [d for d, (key, _) in self._cache.items() if key.id in reasons]:
            del self._cache[digest]
        if self._streams is not None:
            ended = self._streams.end_streams_of(reasons)
            if ended:
                log.info("ended %d live stream(s) of %d revoked or expired API key(s)", ended, len(reasons))

    def start(self, streams: KeyStreams | None) -> None:
        self._streams = streams
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()


    async def sweep(self) -> None:
        """Forget, and end the streams of, every key in use here that is no longer active."""
        # Entries past their lifetime would be read afresh anyway: drop them rather than check them.
        stale_before = time.monotonic() - self.ttl
        for digest in [d for d, (_, read_at) in self._cache.items() if read_at <= stale_before]:
            del self._cache[digest]
        in_use = {key.id: key for key, _ in self._cache.values()}
        if self._streams is not None:
            in_use.update(self._streams.keys_in_use())
        if not in_use:
            return
        now = now_ms()
        reasons = {key_id: KEY_EXPIRED for key_id, key in in_use.items() if _expired(key, now)}
        to_check = [key_id for key_id in in_use if key_id not in reasons]
        if to_check:
            inactive = await anyio.to_thread.run_sync(self._inactive, to_check)
            now = now_ms()
            for key_id in inactive:
                reasons[key_id] = KEY_EXPIRED if _expired(in_use[key_id], now) else KEY_REVOKED
        if reasons:
            self._end(reasons)

    def _inactive(self, key_ids: list[str]) -> set[str]:
        with self.database.reader.connect() as connection:
            return inactive_key_ids(connection, key_ids)
