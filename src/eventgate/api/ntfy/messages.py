"""What ntfy clients read back: the message object and ntfy's error body.

Error codes follow ntfy's own (`{"code": 40101, "http": 401, "error": "unauthorized"}`); Apprise
and the ntfy libraries read `code` and `error` from them."""

from __future__ import annotations

from typing import Any

import msgspec

from eventgate.api.envelope import JSONResponse
from eventgate.domain.errors import DomainError

NTFY_DOCS = "https://docs.ntfy.sh/publish/"

# eventgate's error codes that have an ntfy code of their own; any other is http * 100 + 1.
NTFY_CODES = {
    "token_required": 40101, "token_invalid": 40101, "topic_forbidden": 40301,
    "priority_invalid": 40007, "topic_invalid": 40009, "topic_reserved": 40010, "message_not_utf8": 40011,
    "attachments_unsupported": 40013, "actions_invalid": 40018, "delay_unsupported": 40002,
    "email_unsupported": 40001, "call_unsupported": 40001, "since_invalid": 40008, "not_found": 40401,
}


class NtfyMessage(msgspec.Struct, omit_defaults=True):
    """ntfy's message object (fields left at their defaults are omitted, as ntfy does)."""

    id: str
    time: int
    event: str
    topic: str
    message: str
    title: str | None = None
    priority: int | None = None
    tags: list[str] | None = None
    click: str | None = None
    icon: str | None = None


class NtfyError(msgspec.Struct):
    """ntfy's error body."""

    code: int
    http: int
    error: str
    link: str | None = None


ID_PREFIX = "eg"
ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_DIGITS = 10  # "eg" and ten base-62 digits: ntfy's 12 characters of [A-Za-z0-9]


def message_id(seq: int) -> str:
    """The ntfy message id of an operation, made from its seq: one id names one operation, in
    every process and after restarts, and `since=<id>` resumes right after it. It has ntfy's
    shape (12 letters and digits) and is never all digits, so ntfy clients and eventgate alike
    tell it from a Unix time."""
    digits = []
    for _ in range(ID_DIGITS):
        seq, digit = divmod(seq, 62)
        digits.append(ID_ALPHABET[digit])
    return ID_PREFIX + "".join(reversed(digits))


def seq_of_message_id(text: str) -> int | None:
    """The seq a message id was made from; None when the text is not one of eventgate's ids."""
    if len(text) != len(ID_PREFIX) + ID_DIGITS or not text.startswith(ID_PREFIX):
        return None
    seq = 0
    for character in text[len(ID_PREFIX):]:
        digit = ID_ALPHABET.find(character)
        if digit < 0:
            return None
        seq = seq * 62 + digit
    return seq


def message_body(seq: int, time_ms: int, topic: str, message: str, **optional: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": message_id(seq), "time": time_ms // 1000, "event": "message", "topic": topic,
                            "message": message}
    body.update({name: value for name, value in optional.items() if value not in (None, [], "")})
    return body


def ntfy_error(error: DomainError) -> JSONResponse:
    code = NTFY_CODES.get(error.code, error.status * 100 + 1)
    body: dict[str, Any] = {"code": code, "http": error.status, "error": error.message}
    if error.status in (401, 403):
        body["link"] = NTFY_DOCS + "#authentication"
    return JSONResponse(body, status_code=error.status, headers=error.headers)


class NtfySuccess(msgspec.Struct):
    """`GET /{topics}/auth`: the credential may read every topic."""

    success: bool


class NtfyHealth(msgspec.Struct):
    healthy: bool


class NtfyAccount(msgspec.Struct):
    """The credential's account: an API key's user_id, `token:<name>`, or `*` (anonymous)."""

    username: str
    role: str
    stats: dict[str, int]


class NtfyAccountToken(msgspec.Struct):
    """The token to use from now on: the secret that was presented."""

    token: str
    label: str
    expires: int


class NtfyNotificationChange(msgspec.Struct):
    """A `message_clear` or `message_delete` for an event's notification (its sequence_id)."""

    id: str
    time: int
    event: str
    topic: str
    sequence_id: str
