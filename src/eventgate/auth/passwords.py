"""Channel passwords: argon2id hashes, a verification cache, and a limit on wrong guesses.

The cache is keyed by an HMAC of (channel, current hash, password) under a per-process
secret, so it never holds a plain password, and rotating a password (a new hash) makes
every cached verification for the old one unreachable at once.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, library defaults (t=3, m=64 MiB, p=4)


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
    """Counts wrong passwords per (channel, client address) in a fixed window."""

    def __init__(self, max_failures: int = 10, window_seconds: float = 60.0) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def retry_after(self, channel_id: str, address: str) -> int | None:
        """Seconds to wait if this (channel, address) is locked out, else None."""
        now = time.monotonic()
        with self._lock:
            entry = self._failures.get((channel_id, address))
            if entry is None:
                return None
            started, count = entry
            if now - started >= self.window:
                del self._failures[(channel_id, address)]
                return None
            if count >= self.max_failures:
                return max(1, math.ceil(self.window - (now - started)))
        return None

    def record_failure(self, channel_id: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:
                self._failures = {k: v for k, v in self._failures.items() if now - v[0] < self.window}
            started, count = self._failures.get((channel_id, address), (now, 0))
            if now - started >= self.window:
                started, count = now, 0
            self._failures[(channel_id, address)] = (started, count + 1)
