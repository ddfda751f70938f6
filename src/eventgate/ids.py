"""Identifiers: Crockford base32 channel ids, event ids, op ids, API keys."""

from __future__ import annotations

import os
import random
import re
import secrets
import uuid

CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHANNEL_ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}\Z")
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_:\-]+\Z")


def new_channel_id() -> str:
    """26 Crockford base32 characters encoding 128 random bits (the top two bits are zero)."""
    value = secrets.randbits(128)
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_channel_id(value: str) -> bool:
    return bool(CHANNEL_ID_PATTERN.match(value))


# Event and op ids are names, not secrets (they are echoed to producers and shown to readers),
# so they come from a fast generator seeded from the OS once, instead of one getrandom() system
# call per id: on the write path a system call also hands the GIL to the other thread, and
# getting it back can take a whole switch interval.
_fast_random = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _fast_random.seed(os.urandom(32)))


def new_event_id() -> str:
    """32 hex characters (128 random bits), like a UUID's hex form."""
    return f"{_fast_random.getrandbits(128):032x}"


def new_op_id() -> str:
    return f"op-{_fast_random.getrandbits(128):032x}"


def new_workspace_id() -> str:
    return secrets.token_hex(6)


def new_client_id() -> str:
    return uuid.uuid4().hex
