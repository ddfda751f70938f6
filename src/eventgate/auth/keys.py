"""API keys: how they look, how they are hashed, and what scopes mean."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

SCOPES = ("events:write", "events:read", "types:write", "types:read", "subscribe", "admin")
DEFAULT_SCOPES = tuple(s for s in SCOPES if s != "admin")
KEY_PREFIX = "egk_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is the right tool (no dictionary to attack).
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_id() -> str:
    return "key_" + secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    workspace_id: str
    user_id: str
    scopes: tuple[str, ...]
    channel_ids: tuple[str, ...] | None
    expires_at: int | None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def may_use_channel(self, channel_id: str) -> bool:
        return self.channel_ids is None or channel_id in self.channel_ids
