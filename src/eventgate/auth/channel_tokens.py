"""Channel tokens: how they look and how they are hashed.

A channel token is the one secret the foreign intake APIs (ntfy, Gotify) carry: 32 characters
of [a-z0-9], so it passes every client's validation of a token or routing key."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
TOKEN_LENGTH = 32  # 32 characters of 36: about 165 random bits
TOKEN_PATTERN = re.compile(r"[a-z0-9]{32}")


def new_channel_token() -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def looks_like_channel_token(value: str) -> bool:
    return TOKEN_PATTERN.fullmatch(value) is not None


def hash_channel_token(token: str) -> str:
    # 165 random bits leave no dictionary to attack: a fast hash is the right tool (as for API keys).
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChannelToken:
    """A token's record (never its secret), with the channel it writes to."""

    id: int
    workspace_id: str
    channel_id: str
    channel_name: str
    name: str
    created_at: int
    revoked_at: int | None = None
