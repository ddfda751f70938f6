"""The records every layer speaks about a write: what was committed and what the caller is told.

The store produces them, the hub and the broker carry `CommittedOperation`s to subscribers,
and each API module renders a `WriteOutcome` in its own wire shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventgate.domain.lifecycle import SYSTEM_TYPE_OF_KIND


@dataclass(slots=True)
class CommittedOperation:
    """An operation as it was committed: what subscribers are told."""

    workspace_id: str
    seq: int
    kind: str
    op_id: str
    event_id: str
    channel_id: str
    event_time: int
    received_at: int
    fields: dict[str, Any]
    event: dict[str, Any]

    @property
    def system_type(self) -> str:
        return SYSTEM_TYPE_OF_KIND[self.kind]


@dataclass(frozen=True, slots=True)
class Receipt:
    """What identifies a committed operation to its producer; kept with the idempotency record
    so that a replay answers exactly what the first request was told."""

    channel_id: str
    op_id: str
    event_id: str
    thing_id: str | None
    # Absent (None) in records written before receipts carried them.
    seq: int | None = None
    kind: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {"channel_id": self.channel_id, "op_id": self.op_id, "event_id": self.event_id,
                "thing_id": self.thing_id, "seq": self.seq, "kind": self.kind}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Receipt":
        return cls(channel_id=record["channel_id"], op_id=record["op_id"], event_id=record["event_id"],
                   thing_id=record.get("thing_id"), seq=record.get("seq"), kind=record.get("kind"))


@dataclass(slots=True)
class WriteOutcome:
    """The answer to one write: a new operation, or the replay of an earlier one."""

    receipt: Receipt
    replayed: bool
    operation: CommittedOperation | None = None
