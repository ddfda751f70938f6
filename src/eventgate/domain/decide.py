"""Deciding one write: `decide(snapshot, command)` → a change to persist, a replay, or a refusal.

Pure: no I/O. The store loads a `Snapshot` of what the command touches (inside the transaction
that holds the workspace's seq), calls `decide`, and persists what it returns. Every rule of a
write lives here: the channel still being the one the caller verified, idempotency, the event
type registry (auto-registration, strict mode, reserved and inactive types), the lifecycle
(via domain/lifecycle.py), and the channel restriction of an API key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Union

from eventgate import ids
from eventgate.domain.errors import DomainError, bad_request, conflict, not_found
from eventgate.domain.lifecycle import (
    STORAGE_ONLY_KEYS,
    LifecycleCommand,
    apply_operation,
    new_event,
    operation_fields,
)
from eventgate.domain.operations import CommittedOperation, Receipt

DELETED = "deleted"


class CredentialsChanged(DomainError):
    """The channel's password changed after the caller verified it; verify again."""

    def __init__(self) -> None:
        super().__init__(403, "password_mismatch", "the channel password has changed")


@dataclass(frozen=True, slots=True)
class ChannelState:
    workspace_id: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class EventTypeState:
    code: str
    active: bool
    system: bool
    id: int | None = None  # None until the store has registered it


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """An earlier request with the same idempotency key: its fingerprint and what it was told."""

    request_hash: str
    receipt: Receipt


@dataclass(slots=True)
class Snapshot:
    """What one command touches, as its transaction sees it (earlier commands of the same
    transaction included)."""

    workspace_id: str
    last_seq: int
    received_at: int
    # The password hash the caller verified against; None when an API key authorised the write.
    verified_password_hash: str | None
    channel: ChannelState | None = None
    recorded: RecordedRequest | None = None
    # The event as it stands (storage form); state "deleted" when deleted earlier in this transaction.
    event: dict[str, Any] | None = None
    # The registered type of command.event_type; None when no type of that code exists.
    event_type: EventTypeState | None = None
    strict_event_types: bool = False


@dataclass(frozen=True, slots=True)
class Replay:
    receipt: Receipt


@dataclass(slots=True)
class Change:
    """A new operation: the event after it, and what must be stored with it."""

    operation: CommittedOperation
    event: dict[str, Any]
    receipt: Receipt
    record: RecordedRequest | None
    register_type: str | None = None  # a code the store registers before writing the event
    created: bool = False
    deleted: bool = False


Decision = Union[Change, Replay]


def idempotency_scope(command: LifecycleCommand) -> str:
    """Producers (seeds 000/001) repeat an op_id within a channel; API-key writes (seed 002)
    repeat an Idempotency-Key within the key's workspace."""
    return command.workspace_id or command.channel_id


def decide(snapshot: Snapshot, command: LifecycleCommand) -> Decision | DomainError:
    try:
        return _decide(snapshot, command)
    except DomainError as error:
        return error


def _decide(s: Snapshot, command: LifecycleCommand) -> Decision:
    if s.verified_password_hash is not None:
        if s.channel is None or s.channel.workspace_id != s.workspace_id:
            raise not_found("channel_not_found", f"channel {command.channel_id} does not exist")
        if s.channel.password_hash != s.verified_password_hash:
            raise CredentialsChanged()
    if s.recorded is not None:
        if s.recorded.request_hash != command.request_hash:
            raise conflict("idempotency_conflict",
                           f"{'Idempotency-Key' if command.workspace_id else 'op_id'} {command.op_id!r} "
                           "was already used with a different request")
        # Another key of the workspace may have made this very request: replaying it to a key that
        # may not use the event's channel would answer with that event, so refuse as a new request would.
        if command.allowed_channel_ids is not None and s.recorded.receipt.channel_id not in command.allowed_channel_ids:
            raise _channel_forbidden(s.recorded.receipt.channel_id)
        return Replay(s.recorded.receipt)

    register: str | None = None
    type_id: int | None = None
    if command.event_type:
        found = _event_type(s, command.event_type)
        if found.id is None:
            register = found.code
        type_id = found.id
        command = dataclasses.replace(command, event_type=found.code)

    if command.kind == "create":
        event_id = command.event_id or ids.new_event_id()
        if s.event is not None:  # a delete earlier in this same transaction still counts as existing
            raise conflict("event_exists", f"event {event_id} already exists")
        event = new_event(command, workspace_id=s.workspace_id, event_id=event_id, received_at=s.received_at)
        event["event_type_id"] = type_id
        event["pk"] = None
    else:
        current = s.event
        if (current is None or current["state"] == DELETED
                or (command.channel_id and current["channel_id"] != command.channel_id)):
            raise not_found("event_not_found", f"event {command.event_id} does not exist")
        if command.allowed_channel_ids is not None and current["channel_id"] not in command.allowed_channel_ids:
            raise _channel_forbidden(current["channel_id"])
        if command.kind == "delete":
            event = dict(current, state=DELETED, updated_at=s.received_at)
        else:
            event = apply_operation(current, command, received_at=s.received_at)
            if type_id is not None or register is not None:
                event["event_type_id"] = type_id

    seq = s.last_seq + 1
    event["seq"] = seq
    operation = CommittedOperation(
        workspace_id=s.workspace_id, seq=seq, kind=command.kind, op_id=command.op_id,
        event_id=event["id"], channel_id=event["channel_id"], event_time=command.event_time,
        received_at=s.received_at, fields=operation_fields(command), event=public_event(event),
    )
    receipt = Receipt(channel_id=event["channel_id"], op_id=command.op_id, event_id=event["id"],
                      thing_id=event["thing_id"], seq=seq, kind=command.kind)
    record = RecordedRequest(command.request_hash, receipt) if command.request_hash else None
    return Change(operation=operation, event=event, receipt=receipt, record=record, register_type=register,
                  created=command.kind == "create", deleted=command.kind == "delete")


def _channel_forbidden(channel_id: str) -> DomainError:
    return DomainError(403, "channel_forbidden", f"this API key may not use channel {channel_id}")


def _event_type(s: Snapshot, code: str) -> EventTypeState:
    found = s.event_type
    if found is None:
        if s.strict_event_types:
            raise bad_request("unknown_event_type", f"event type {code!r} is not registered", "event_type")
        return EventTypeState(code=code, active=True, system=False)
    if found.system:
        # SYSTEM codes name operations (event_created …), not what happened; an event cannot be one.
        raise bad_request("event_type_reserved",
                          f"event_type {found.code!r} is a SYSTEM event type; use a CUSTOM code", "event_type")
    if not found.active:
        raise conflict("event_type_inactive", f"event type {found.code!r} is inactive")
    return found


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """The canonical event without storage-only keys."""
    return {k: v for k, v in event.items() if k not in STORAGE_ONLY_KEYS}
