"""The frames of a live stream (SPEC §6), each encoded once and shared by every subscriber.

An operation reaches the hub either as it was committed (a CommittedOperation) or as stored
(a row of `operations`); both become the same dict, so a replayed frame and a live frame of
one operation are byte for byte the same.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from eventgate.domain.lifecycle import SYSTEM_TYPE_OF_KIND
from eventgate.domain.views import canonical_event, operation_view
from eventgate.domain.operations import CommittedOperation

_encoder = msgspec.json.Encoder()


class Frame:
    """One JSON text frame. `seq` is the operation's seq, 0 for frames that carry none."""

    __slots__ = ("seq", "text", "sse_id", "sse_event", "ws_bytes", "_sse")

    def __init__(self, seq: int, text: str, sse_id: int | None = None, sse_event: str | None = None) -> None:
        self.seq = seq
        self.text = text
        # The SSE `id:` (what a browser sends back as Last-Event-ID): the seq for operations.
        self.sse_id = seq if seq else sse_id
        # The SSE `event:` name; None for an unnamed ("message") event.
        self.sse_event = sse_event
        # The frame as a complete WebSocket text frame from a server (FIN, unmasked): the same
        # bytes for every subscriber.
        self.ws_bytes = websocket_frame(text.encode())
        self._sse: bytes | None = None

    @property
    def sse(self) -> bytes:
        """The frame as a Server-Sent Event."""
        if self._sse is None:
            head = f"event: {self.sse_event}\n" if self.sse_event is not None else ""
            head += f"id: {self.sse_id}\n" if self.sse_id is not None else ""
            self._sse = f"{head}data: {self.text}\n\n".encode()
        return self._sse


def websocket_frame(payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


def encode(value: Any) -> str:
    return _encoder.encode(value).decode()


def operation_from_committed(committed: CommittedOperation) -> dict[str, Any]:
    """A committed operation in the shape `store.events.row_to_operation` gives stored ones."""
    return {
        "seq": committed.seq,
        "workspace_id": committed.workspace_id,
        "op_id": committed.op_id,
        "kind": committed.kind,
        "event_id": committed.event_id,
        "channel_id": committed.channel_id,
        "event_time": committed.event_time,
        "received_at": committed.received_at,
        "fields": committed.fields,
        "event": committed.event,
    }


def event_frame(operation: dict[str, Any]) -> Frame:
    return Frame(operation["seq"], encode({
        "type": "event",
        "seq": operation["seq"],
        "event_type": SYSTEM_TYPE_OF_KIND[operation["kind"]],
        "op": operation_view(operation),
        "event": canonical_event(operation["event"]),
    }))


def welcome_frame(client_id: str, user_id: str, event_types: list[str], seq: int, resume_from: int) -> Frame:
    """`seq` is the workspace's latest; `resume_from` is where this stream starts (its SSE id),
    so that a browser dropped before the first event resumes without a gap."""
    return Frame(0, encode({"type": "welcome", "client_id": client_id, "user_id": user_id,
                            "event_types": event_types, "seq": seq}), sse_id=resume_from)


def heartbeat_frame(seq: int) -> Frame:
    """`seq`: every matching operation up to it was queued before this heartbeat."""
    return Frame(0, encode({"type": "heartbeat", "seq": seq, "time": int(time.time())}))


def gap_frame(after_seq: int, through_seq: int) -> Frame:
    """Retention removed operations of the workspace up to `through_seq`: of the operations
    after `after_seq` (where the stream is), those up to `through_seq` may be missing. The
    ones still stored follow as usual. Over SSE it is `event: gap`, with no `id:` (resuming
    from the last event's id is still right)."""
    return Frame(0, encode({"type": "gap", "reason": "retention", "after_seq": after_seq,
                            "through_seq": through_seq}), sse_event="gap")
