"""What a live subscription remembers across connections, for both clients.

The position is the last `seq` the caller has seen (or that a heartbeat vouched for): every
reconnection asks for `since=<position>`, so the server replays what was missed, and an event
frame at or below the position (already seen before a reconnection) is skipped. The caller
therefore sees every operation once, in order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from eventgate.client.errors import EventgateError, StreamEnded, error_from_answer

# The close codes of the live routes (the server's api/live_closing.py).
KEY_ENDED_CODE = 4001  # the stream's API key was revoked or expired: reconnecting cannot help
CHANNEL_DELETED_CODE = 4004  # every channel the stream was limited to was deleted: neither can it
SLOW_CONSUMER_CODE = 4008  # fell behind: resume with since
# A refusal of the upgrade that another attempt cannot fix: bad key, bad filter, wrong URL.
FINAL_STATUSES = frozenset({400, 401, 403, 404, 426})
# Heartbeats come every 15 s on a quiet stream: this long without a frame is a dead connection.
SILENCE_TIMEOUT = 45.0


@dataclass(frozen=True)
class Gap:
    """Retention removed the operations after `after_seq` up to `through_seq` before this
    subscriber could see them (some of those seqs may still follow: only removed ones are gone)."""

    after_seq: int
    through_seq: int
    reason: str = "retention"


def websocket_base(base_url: str) -> str:
    """The server's address with the WebSocket scheme (wss:// for https://)."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://"):]
    if base.startswith("http://"):
        return "ws://" + base[len("http://"):]
    return base if base.startswith(("ws://", "wss://")) else "ws://" + base


def subscribe_url(base_url: str, filters: dict[str, Any], since: int | None) -> str:
    base = websocket_base(base_url)
    params = {name: ",".join(map(str, value)) if isinstance(value, (list, tuple, set)) else value
              for name, value in filters.items()}
    params["since"] = since
    query = urlencode({name: value for name, value in params.items() if value not in (None, "")})
    return f"{base}/api/v1/ws/subscribe" + (f"?{query}" if query else "")


class StreamPosition:
    def __init__(self, since: int | None) -> None:
        self.position = since
        self.gap_told = 0  # the highest through_seq a Gap has already named
        self.welcomed = False  # a connection has been accepted at least once

    def accept(self, raw: str | bytes) -> dict[str, Any] | Gap | None:
        """The item to hand to the caller for one frame, or None."""
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "welcome":
            self.welcomed = True
            if self.position is None:
                self.position = int(frame.get("seq") or 0)
        elif kind == "event":
            seq = int(frame["seq"])
            if self.position is not None and seq <= self.position:
                return None  # seen before a reconnection
            self.position = seq
            return frame
        elif kind == "heartbeat" and isinstance(frame.get("seq"), int):
            self.position = max(self.position or 0, frame["seq"])
        elif kind == "gap":
            through = int(frame.get("through_seq") or 0)
            if through > self.gap_told:
                self.gap_told = through
                return Gap(int(frame.get("after_seq") or 0), through, str(frame.get("reason") or "retention"))
        return None

    def refusal(self, status: int, body: bytes | None) -> EventgateError | None:
        """The error to raise for a refused upgrade, or None to try again. A key refused on a
        reconnection has ended the stream (revoked or expired while the stream was away)."""
        if status not in FINAL_STATUSES:
            return None
        error = error_from_answer(status, body)
        if self.welcomed and status == 401:
            return StreamEnded(error.message, status=status, code=error.code or "api_key_ended")
        return error

    @staticmethod
    def ended(close_code: int | None, reason: str | None) -> StreamEnded | None:
        if close_code == KEY_ENDED_CODE:
            return StreamEnded(reason or "api key revoked", status=None, code="api_key_ended")
        if close_code == CHANNEL_DELETED_CODE:
            return StreamEnded(reason or "channel deleted", status=None, code="channel_deleted")
        return None
