"""Checking a channel password on every producer request without paying argon2 every time, and
without letting wrong guesses cost more than the limit allows."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import anyio

from eventgate.auth.passwords import AttemptLimiter, VerificationCache, VerificationPool
from eventgate.domain.errors import DomainError, not_found
from eventgate.domain.times import now_ms
from eventgate.ids import is_channel_id
from eventgate.store.channels import Channel, get_channel
from eventgate.store.database import Database
from eventgate.store.password_failures import Attempts, PasswordFailures

log = logging.getLogger("eventgate.passwords")

T = TypeVar("T")

CHANNEL_CACHE_SECONDS = 5.0
RETRY_AFTER_SECONDS = 1
# Old wrong-password windows are forgotten on write, at most this often per process.
SWEEP_INTERVAL_SECONDS = 60.0
# Times a request may join a check of its password started by another address that turned out
# locked out, before it is told to retry.
JOIN_ATTEMPTS = 3


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


class SharedAttempts:
    """The store's count of wrong passwords (store/password_failures.py), reached from the event
    loop through one thread of its own: the writes are tiny and one at a time suits SQLite, and
    the default thread pool stays free for key lookups, reads and replays."""

    def __init__(self, store: PasswordFailures, window_ms: int, limit: int) -> None:
        self.store = store
        self.window_ms = window_ms
        self.limit = limit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventgate-password-failures")
        self._next_sweep = 0.0

    async def reserve(self, channel_id: str, address: str) -> Attempts:
        return await self._run(self._reserve, channel_id, address)

    async def refund(self, channel_id: str, address: str, window_started_at: int) -> None:
        await self._run(self.store.refund, channel_id, address, window_started_at, self.window_ms)

    async def start_window_at(self, channel_id: str, address: str, window_started_at: int, now: int) -> None:
        await self._run(self.store.start_window_at, channel_id, address, window_started_at, now)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.store.close()

    def _reserve(self, channel_id: str, address: str) -> Attempts:
        now = now_ms()
        attempts = self.store.reserve(channel_id, address, limit=self.limit, window_ms=self.window_ms, now=now)
        if time.monotonic() >= self._next_sweep:  # old windows go on write, a batch now and then
            self._next_sweep = time.monotonic() + SWEEP_INTERVAL_SECONDS
            try:
                self.store.sweep(cutoff=now - self.window_ms)
            except Exception:  # noqa: BLE001 — a later write sweeps again; the count is unaffected
                log.warning("forgetting old wrong-password windows failed", exc_info=True)
        return attempts

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)


class ChannelAuthenticator:
    """A channel's password, checked on every producer request.

    A right password seen before is answered from the cache (no argon2, no query), once this
    process's view of the limiter says the (channel, address) is not locked out. Any other
    password costs a slow check, and before it runs, a place: one of this process's
    (AttemptLimiter), one in the verification pool's bounded queue (VerificationPool), then one
    in the count shared through the store (SharedAttempts). Without a place the answer is
    429 or 503 at once. A right password gives its place back."""

    def __init__(self, directory: ChannelDirectory, limiter: AttemptLimiter, shared: SharedAttempts,
                 pool: VerificationPool) -> None:
        self.directory = directory
        self.limiter = limiter
        self.shared = shared
        self.pool = pool
        self.cache = VerificationCache()
        self._pending: dict[bytes, asyncio.Future[bool]] = {}

    async def verify(self, channel_id: str, password: str, address: str) -> Channel:
        """The channel, if it exists and the password is right; else 404, 403, 429 or 503."""
        if not is_channel_id(channel_id):
            raise not_found("channel_not_found", f"channel {channel_id} does not exist")
        self._refuse_if_locked_out(channel_id, address)
        channel = await self.directory.get(channel_id)
        if channel is None:
            raise not_found("channel_not_found", f"channel {channel_id} does not exist")
        key = self.cache.key(channel.id, channel.password_hash, password)
        if self.cache.contains_key(key):
            return channel
        if await self._verify_once(key, channel, password, address):
            return channel
        raise DomainError(403, "password_mismatch", "the channel password is wrong")

    def close(self) -> None:
        self.pool.close()
        self.shared.close()

    def _refuse_if_locked_out(self, channel_id: str, address: str) -> None:
        retry_after = self.limiter.retry_after(channel_id, address)
        if retry_after is not None:
            raise too_many_attempts(retry_after)

    async def _verify_once(self, key: bytes, channel: Channel, password: str, address: str) -> bool:
        """The slow check, run once for all requests that present the same uncached password together.

        Without this, a burst of requests to a channel nobody has verified yet (a fresh start, a
        new password) would start one argon2 verification each: 64 MiB and tens of ms apiece.
        The check is counted against the address that started it; another address joining it
        costs nothing more and learns nothing it did not send."""
        for _ in range(JOIN_ATTEMPTS):
            pending = self._pending.get(key)
            started_here = pending is None
            if pending is None:
                pending = asyncio.ensure_future(self._verify_slow(key, channel, password, address))
                self._pending[key] = pending
                pending.add_done_callback(self._forget_pending(key))
            try:
                # shield: one cancelled request must not cancel the verification the others wait for.
                return await asyncio.shield(pending)
            except DomainError as refusal:
                if started_here or refusal.status != 429:
                    raise
                # The address that started the check was locked out; try in our own name.
                self._refuse_if_locked_out(channel.id, address)
        raise verifications_overloaded()

    def _forget_pending(self, key: bytes) -> Callable[[asyncio.Future[bool]], None]:
        def forget(done: asyncio.Future[bool]) -> None:
            if self._pending.get(key) is done:  # not a later check of the same password
                del self._pending[key]
        return forget

    async def _verify_slow(self, key: bytes, channel: Channel, password: str, address: str) -> bool:
        retry_after = self.limiter.begin(channel.id, address)
        if retry_after is not None:
            raise too_many_attempts(retry_after)
        counted = False
        try:
            if not self.pool.try_admit():
                raise verifications_overloaded()
            try:
                try:
                    attempts = await self.shared.reserve(channel.id, address)
                except Exception as error:
                    log.warning("counting a channel password attempt failed: %s", type(error).__name__)
                    raise store_unavailable() from error
                counted = True
                self.limiter.settle(channel.id, address, attempts.failures, attempts.window_started_at)
                if not attempts.admitted:
                    retry_after = self.limiter.retry_after(channel.id, address)
                    raise too_many_attempts(retry_after or 1)
                matched = await self.pool.verify(channel.password_hash, password)
            finally:
                self.pool.release()
        finally:
            if not counted:
                self.limiter.abandon(channel.id, address)
        if matched:
            self.cache.add_key(key)
            self.limiter.refund(channel.id, address, attempts.window_started_at)
            try:
                await self.shared.refund(channel.id, address, attempts.window_started_at)
            except Exception as error:  # noqa: BLE001 — the count stays one too high until its window ends
                log.warning("giving back a right channel password's attempt failed: %s", type(error).__name__)
        elif attempts.failures == 1:
            # The window's first attempt failed: the window runs from now, the moment the first
            # wrong password is known, not from before its check (which a busy server makes long).
            now = now_ms()
            self.limiter.start_window_at(channel.id, address, attempts.window_started_at, now)
            try:
                await self.shared.start_window_at(channel.id, address, attempts.window_started_at, now)
            except Exception as error:  # noqa: BLE001 — the window then ends a little earlier
                log.warning("starting a wrong-password window failed: %s", type(error).__name__)
        return matched


def too_many_attempts(retry_after: int) -> DomainError:
    return DomainError(429, "too_many_attempts",
                       f"too many wrong passwords for this channel; retry in {retry_after} s",
                       headers={"Retry-After": str(retry_after)})


def verifications_overloaded() -> DomainError:
    return DomainError(503, "overloaded", "too many channel passwords are waiting to be checked; retry shortly",
                       headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def store_unavailable() -> DomainError:
    return DomainError(503, "store_unavailable", "the event store is unavailable; retry shortly",
                       headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
