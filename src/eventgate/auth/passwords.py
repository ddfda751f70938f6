"""Channel passwords: argon2id hashes, the bounded pool they are verified on, a verification
cache, and this process's view of the limit on wrong guesses.

The cache is keyed by an HMAC of (channel, current hash, password) under a per-process
secret, so it never holds a plain password, and rotating a password (a new hash) makes
every cached verification for the old one unreachable at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Counter

from eventgate.metrics import registry

_hasher = PasswordHasher()  # argon2id, library defaults (t=3, m=64 MiB, p=4)

# Slow checks at once per process, and how many more may wait for one: memory stays near
# VERIFICATION_THREADS x 64 MiB however many requests arrive.
VERIFICATION_THREADS = 2
VERIFICATION_QUEUE = 32

password_verifications = Counter(
    "eventgate_password_verifications", "Slow (argon2) channel password verifications run, by result",
    ["result"], registry=registry,
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password_slow(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class VerificationCache:
    """Remembers successful verifications (only), bounded, least recently used evicted."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._secret = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, None] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def _key(self, channel_id: str, password_hash: str, password: str) -> bytes:
        material = f"{channel_id}\x00{password_hash}\x00{password}".encode()
        # Not hmac.digest(): the one-shot form releases the GIL, and winning it back from the
        # writer thread costs far more than the HMAC itself.
        return hmac.new(self._secret, material, hashlib.sha256).digest()

    def key(self, channel_id: str, password_hash: str, password: str) -> bytes:
        """The HMAC that stands for this (channel, hash, password): safe to keep, useless to a thief."""
        return self._key(channel_id, password_hash, password)

    def contains(self, channel_id: str, password_hash: str, password: str) -> bool:
        return self.contains_key(self._key(channel_id, password_hash, password))

    def contains_key(self, key: bytes) -> bool:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True
        return False

    def add(self, channel_id: str, password_hash: str, password: str) -> None:
        self.add_key(self._key(channel_id, password_hash, password))

    def add_key(self, key: bytes) -> None:
        with self._lock:
            self._entries[key] = None
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)


class AttemptLimiter:
    """This process's view of the wrong-password count per (channel, client address).

    The count itself is shared through the store (store/password_failures.py); this view
    answers without touching it: a (channel, address) whose known failures plus the slow checks
    this process has under way reach the limit is refused at once. So a flood from one address
    never sends more than `max_failures` checks to the store, and a right password already
    verified (the fast path) is held to a lockout without a query. Times are wall-clock
    milliseconds, since windows are shared between processes.
    """

    def __init__(self, max_failures: int = 10, window_seconds: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.window_ms = max(1, int(window_seconds * 1000))
        self._entries: dict[tuple[str, str], _Attempts] = {}
        self._lock = threading.Lock()

    def retry_after(self, channel_id: str, address: str) -> int | None:
        """Seconds to wait if this (channel, address) is locked out, else None."""
        now = _now_ms()
        with self._lock:
            return self._refusal(self._entry((channel_id, address), now, create=False), now)

    def begin(self, channel_id: str, address: str) -> int | None:
        """Take a place for one slow check; the seconds to wait instead if there is none left.

        Every successful begin() is followed by settle() or abandon()."""
        now = _now_ms()
        with self._lock:
            entry = self._entry((channel_id, address), now, create=True)
            assert entry is not None
            refusal = self._refusal(entry, now)
            if refusal is None:
                entry.under_way += 1
            return refusal

    def settle(self, channel_id: str, address: str, failures: int, window_started_at: int) -> None:
        """The shared count the store returned for a place taken by begin()."""
        now = _now_ms()
        with self._lock:
            entry = self._entry((channel_id, address), now, create=True)
            assert entry is not None
            entry.under_way = max(0, entry.under_way - 1)
            if entry.started is None or window_started_at > entry.started:
                entry.started, entry.failures = window_started_at, failures
            elif window_started_at == entry.started:
                entry.failures = max(entry.failures, failures)

    def abandon(self, channel_id: str, address: str) -> None:
        """A place taken by begin() that never reached the store."""
        with self._lock:
            entry = self._entries.get((channel_id, address))
            if entry is not None:
                entry.under_way = max(0, entry.under_way - 1)

    def refund(self, channel_id: str, address: str, window_started_at: int) -> None:
        """An attempt counted in the store turned out to be the right password."""
        with self._lock:
            entry = self._entries.get((channel_id, address))
            if entry is not None and entry.started is not None and \
                    window_started_at <= entry.started < window_started_at + self.window_ms:
                entry.failures = max(0, entry.failures - 1)

    def start_window_at(self, channel_id: str, address: str, window_started_at: int, now: int) -> None:
        """The window that began at window_started_at starts again at its first failure."""
        with self._lock:
            entry = self._entries.get((channel_id, address))
            if entry is not None and entry.started == window_started_at:
                entry.started = max(entry.started, now)

    def _entry(self, key: tuple[str, str], now: int, *, create: bool) -> "_Attempts | None":
        entry = self._entries.get(key)
        if entry is not None and entry.started is not None and now - entry.started >= self.window_ms:
            entry.started, entry.failures = None, 0
        if entry is None and create:
            if len(self._entries) > 100_000:
                self._forget_idle(now)
            entry = self._entries[key] = _Attempts()
        return entry

    def _refusal(self, entry: "_Attempts | None", now: int) -> int | None:
        if entry is None or entry.failures + entry.under_way < self.max_failures:
            return None
        started = entry.started if entry.started is not None else now
        return max(1, math.ceil((self.window_ms - (now - started)) / 1000))

    def _forget_idle(self, now: int) -> None:
        self._entries = {key: entry for key, entry in self._entries.items()
                         if entry.under_way or (entry.started is not None and now - entry.started < self.window_ms)}


class _Attempts:
    __slots__ = ("started", "failures", "under_way")

    def __init__(self) -> None:
        self.started: int | None = None  # the shared window's start, once the store has told us
        self.failures = 0  # counted in the store in that window (slow checks failed or running)
        self.under_way = 0  # this process's checks not yet counted by the store


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class VerificationPool:
    """argon2 runs on a few threads of their own, never on the default thread pool that serves
    key lookups, reads and replays, and never more than `threads` at once: each takes 64 MiB and
    a core. At most `max_waiting` more wait their turn; beyond that try_admit() says no, and the
    caller answers 503 at once instead of queueing without bound."""

    def __init__(self, threads: int = VERIFICATION_THREADS, max_waiting: int = VERIFICATION_QUEUE) -> None:
        self.capacity = threads + max_waiting
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="eventgate-argon2")
        self._admitted = 0
        self._lock = threading.Lock()

    def try_admit(self) -> bool:
        """Take a place (running or waiting); every True is followed by one release()."""
        with self._lock:
            if self._admitted >= self.capacity:
                return False
            self._admitted += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._admitted = max(0, self._admitted - 1)

    async def verify(self, password_hash: str, password: str) -> bool:
        """The slow check, on this pool's threads (the caller holds a place)."""
        matched = await asyncio.get_running_loop().run_in_executor(
            self._executor, verify_password_slow, password_hash, password)
        password_verifications.labels("match" if matched else "mismatch").inc()
        return matched

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
