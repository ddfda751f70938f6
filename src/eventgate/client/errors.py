"""What the client raises: a refusal from the server, a server it could not reach, a stream
the server ended for good."""

from __future__ import annotations

import json
from typing import Any


class EventgateError(Exception):
    """The server refused a request (or the client could not make one).

    `status` is the HTTP status (None when there was no answer), `code` the server's error
    code (`password_mismatch`, `event_not_found`, …), `message` its human sentence."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def __str__(self) -> str:
        label = " ".join(part for part in (self.code, f"({self.status})" if self.status else None) if part)
        return f"{label}: {self.message}" if label else self.message


class ServerUnavailable(EventgateError):
    """Every attempt failed: the server did not answer, or answered 502/503/504."""


class StreamEnded(EventgateError):
    """The server ended a live stream for good (its API key was revoked or expired)."""


def error_from_answer(status: int, body: bytes | str | None) -> EventgateError:
    """An EventgateError from a refusal in any of the server's error shapes: the producer and
    REST envelope `{"error", "error_code"}` and the live routes' `{"code", "message", "stack"}`."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    try:
        payload: Any = json.loads(text) if text else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    code = payload.get("error_code")
    message = payload.get("error")
    stack = payload.get("stack")
    if isinstance(stack, list) and stack and isinstance(stack[0], dict):
        code = code or stack[0].get("error")
        message = message or stack[0].get("description")
    if not isinstance(message, str) or not message:
        message = payload.get("message") if isinstance(payload.get("message"), str) else None
    return EventgateError(message or (text.strip()[:200] or f"HTTP {status}"), status=status,
                          code=code if isinstance(code, str) else None)
