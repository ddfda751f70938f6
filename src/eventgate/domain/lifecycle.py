"""The event lifecycle: what a create, update, close or delete does to an event's state.

An event is a plain dict of canonical fields (see SPEC §1). `apply_operation` is the
only place that changes one; the store persists what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from eventgate.domain import fields as rules
from eventgate.domain.errors import bad_request, conflict
from eventgate.domain.input_check import refuse_larger_than

OperationKind = Literal["create", "update", "close", "delete"]

# The SYSTEM event type that names each kind of operation.
SYSTEM_TYPE_OF_KIND: dict[str, str] = {
    "create": "event_created",
    "update": "event_updated",
    "close": "event_closed",
    "delete": "event_deleted",
}
SYSTEM_TYPE_CODES = tuple(SYSTEM_TYPE_OF_KIND.values())

ONGOING = "ongoing"
CLOSED = "closed"

# Fields an operation may set directly on the event (attrs is a merge patch, handled apart).
SETTABLE_FIELDS = (
    "title", "message", "description", "status", "severity", "thing_id",
    "tags", "images", "metadata", "actions", "started_at", "ended_at",
)

# Keys of the stored event that are not part of the canonical event (SPEC §1).
STORAGE_ONLY_KEYS = frozenset({"pk", "event_type_id", "intake_key"})


@dataclass(slots=True)
class LifecycleCommand:
    """One validated write, ready for the store.

    `changes` holds only the fields the producer sent (normalised) plus defaults the route
    decided; the store applies it to the current event inside its transaction.
    """

    kind: OperationKind
    channel_id: str
    op_id: str
    event_id: str | None
    event_time: int
    changes: dict[str, Any] = field(default_factory=dict)
    attrs_patch: dict[str, Any] | None = None
    attrs_replace: dict[str, Any] | None = None
    event_type: str | None = None
    request_hash: str = ""
    # Seed 000 may create with its own event id; a clash is then 409 event_exists.
    event_id_chosen_by_client: bool = False
    # Seed 002 addresses events by id within the workspace rather than by channel.
    workspace_id: str | None = None
    # Seed 002: the channels the API key may use (None: every channel of the workspace).
    allowed_channel_ids: frozenset[str] | None = None
    # Intake (ntfy, Gotify): a create whose event is closed at once (SPEC §9 one-shot message).
    one_shot: bool = False
    # Intake (PagerDuty dedup_key, Alertmanager fingerprint): names the channel's ongoing event
    # instead of event_id; the writer resolves it in its transaction (domain/keyed_intake.py).
    event_key: str | None = None
    # People acting on events (SPEC §11, domain/people_actions.py): who did it, and what.
    actor: str | None = None
    acknowledge: bool = False
    note: str | None = None


def new_event(command: LifecycleCommand, *, workspace_id: str, event_id: str, received_at: int) -> dict[str, Any]:
    changes = command.changes
    title = changes.get("title") or command.event_type or "event"
    event: dict[str, Any] = {
        "id": event_id,
        "workspace_id": workspace_id,
        "channel_id": command.channel_id,
        "thing_id": changes.get("thing_id"),
        "event_type": command.event_type,
        "title": title,
        "message": changes.get("message") or title,
        "description": changes.get("description"),
        "status": changes.get("status") or ONGOING,
        "state": ONGOING,
        "severity": changes.get("severity") or "normal",
        "tags": changes.get("tags") or [],
        "images": changes.get("images") or [],
        "attrs": _attrs_after({}, command),
        "metadata": changes.get("metadata") or {},
        "actions": changes.get("actions") or [],
        "started_at": changes.get("started_at", command.event_time),
        "ended_at": None,
        "created_at": received_at,
        "updated_at": received_at,
        "seq": 0,
        "intake_key": command.event_key,
        "acknowledged_at": None,
        "acknowledged_by": None,
    }
    if command.one_shot:
        # One operation, one seq, one notification: the event is born closed, started_at = ended_at.
        event["state"] = CLOSED
        event["status"] = changes.get("status") or CLOSED
        event["ended_at"] = changes.get("ended_at", event["started_at"])
    return event


def apply_operation(event: dict[str, Any], command: LifecycleCommand, *, received_at: int) -> dict[str, Any]:
    """Return the event after an update or close (the input is not modified)."""
    if command.kind == "create":
        raise ValueError("use new_event for creates")
    if event["state"] == CLOSED and command.kind in ("update", "close"):
        raise conflict("event_closed", f"event {event['id']} is closed; it can no longer be updated or closed")
    result = dict(event)
    for name, value in command.changes.items():
        if name in SETTABLE_FIELDS:
            result[name] = value
    _acknowledgement_after(event, result, command, received_at)
    if command.event_type is not None:
        result["event_type"] = command.event_type
    result["attrs"] = _attrs_after(result["attrs"], command)
    if command.kind == "close":
        result["state"] = CLOSED
        result["status"] = command.changes.get("status") or CLOSED
        result["ended_at"] = command.changes.get("ended_at", command.event_time)
    result["updated_at"] = received_at
    return result


def _acknowledgement_after(before: dict[str, Any], after: dict[str, Any], command: LifecycleCommand,
                           received_at: int) -> None:
    """An acknowledgement stays through later updates (as PagerDuty keeps it), unless a producer
    raises the severity: then the event needs someone's attention again. The first
    acknowledgement is the one kept."""
    if command.acknowledge:
        if before.get("acknowledged_at") is None:
            after["acknowledged_at"] = received_at
            after["acknowledged_by"] = command.actor
        return
    raised = rules.SEVERITY_RANK.get(after["severity"], 1) > rules.SEVERITY_RANK.get(before["severity"], 1)
    if raised and before.get("acknowledged_at") is not None:
        after["acknowledged_at"] = None
        after["acknowledged_by"] = None


def _attrs_after(current: dict[str, Any], command: LifecycleCommand) -> dict[str, Any]:
    """The event's attrs after the command: replaced whole, then merged; within the cap either way."""
    attrs = current
    if command.attrs_replace is not None:
        attrs = dict(command.attrs_replace)
        refuse_larger_than(attrs, "attrs", rules.MAX_ATTRS_BYTES)
    if command.attrs_patch:
        attrs = rules.merge_attrs(attrs, command.attrs_patch)  # refuses a result over the cap
    return attrs


def operation_fields(command: LifecycleCommand) -> dict[str, Any]:
    """What the operation carried, as recorded in the timeline (never the password)."""
    carried = dict(command.changes)
    if command.event_type is not None:
        carried["event_type"] = command.event_type
    if command.attrs_patch is not None:
        carried["attrs"] = command.attrs_patch
    if command.attrs_replace is not None:
        carried["attrs"] = command.attrs_replace
    if command.acknowledge:
        carried["acknowledged"] = True
    if command.note is not None:
        carried["note"] = command.note
    if command.actor is not None:
        carried["by"] = command.actor
    return carried


def require_kind_fields(kind: OperationKind, raw: dict[str, Any], required: tuple[str, ...]) -> None:
    for name in required:
        if name not in raw or raw[name] is None:
            raise bad_request(f"{name}_required", f"{name} is required on {kind}", name)
