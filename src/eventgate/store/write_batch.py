"""One transaction's worth of writes: load what they touch, let the domain decide each, write once.

The batch keeps a working copy of everything its requests touched, so the second request for
an event sees the first one's change before anything is written. Decisions come from
domain/decide.py; SQL comes from the dialect (store/dialects/).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from eventgate.domain.decide import (
    Change,
    ChannelState,
    EventTypeState,
    RecordedRequest,
    Snapshot,
    decide,
    idempotency_scope,
)
from eventgate.domain.errors import DomainError
from eventgate.domain.keyed_intake import resolve_keyed
from eventgate.domain.lifecycle import ONGOING, LifecycleCommand
from eventgate.domain.operations import CommittedOperation, Receipt, WriteOutcome
from eventgate.domain.times import now_ms
from eventgate.store import codec
from eventgate.store.dialects import WriteStatements
from eventgate.store.dialects.base import IDEMPOTENCY_COLUMNS, IMMUTABLE_EVENT_COLUMNS, OPERATION_COLUMNS, TAG_COLUMNS
from eventgate.store.events import event_to_row, row_to_event


@dataclass(slots=True)
class WriteRequest:
    command: LifecycleCommand
    workspace_id: str
    # The password hash the caller verified against, or None when an API key authorised it.
    verified_password_hash: str | None
    received_at: int
    future: asyncio.Future | None = None
    deadline: float = float("inf")  # time.monotonic() after which the caller has been told 503


@dataclass(slots=True)
class _EventSlot:
    """An event as the batch sees it: loaded or created, and what must be written back."""

    event: dict[str, Any]
    is_new: bool = False
    dirty: bool = False
    deleted: bool = False
    original_tags: list[str] = field(default_factory=list)


class MissingSequence(Exception):
    """A workspace without its sequences row: the schema is broken, not the request."""


class WriteBatch:
    """Decides requests into one open transaction, then writes them all in a handful of statements."""

    def __init__(self, cursor: Any, statements: WriteStatements, *, strict_event_types: bool) -> None:
        self.cursor = cursor
        self.sql = statements
        self.strict_event_types = strict_event_types
        self.last_seq: dict[str, int] = {}
        self.channels: dict[str, ChannelState] = {}
        self.recorded: dict[tuple[str, str], RecordedRequest] = {}
        self.new_records: list[tuple[Any, ...]] = []
        self.slots: dict[tuple[str, str], _EventSlot] = {}
        self.types: dict[tuple[str, str], EventTypeState] = {}
        # (workspace, channel, intake key) → the ongoing event with that key, None when there is none.
        self.keyed: dict[tuple[str, str, str], str | None] = {}
        self.operations: list[tuple[CommittedOperation, _EventSlot]] = []

    def can_join(self, request: WriteRequest) -> bool:
        """Later requests may join only if their workspace's seq row is already locked: taking
        more locks out of sorted order could deadlock with another process's writer."""
        return request.workspace_id in self.last_seq

    def decide(self, requests: list[WriteRequest]) -> list[WriteOutcome | DomainError]:
        """Take these requests into the transaction (the first call locks their workspaces' seq)."""
        if not self.last_seq:
            for workspace_id in sorted({r.workspace_id for r in requests}):
                last_seq = self.sql.lock_sequence(self.cursor, workspace_id)
                if last_seq is None:
                    raise MissingSequence(f"workspace {workspace_id} has no sequences row")
                self.last_seq[workspace_id] = last_seq
        self._load(requests)
        return [self._decide(request) for request in requests]

    # loading ----------------------------------------------------------------------------

    def _load(self, requests: list[WriteRequest]) -> None:
        """Read what these requests touch, except what this batch already holds (and may have changed)."""
        sql, cursor = self.sql, self.cursor
        channel_ids = list({r.command.channel_id for r in requests
                            if r.command.channel_id and r.command.channel_id not in self.channels})
        if channel_ids:
            for channel_id, workspace_id, password_hash in sql.channels(cursor, channel_ids):
                self.channels[channel_id] = ChannelState(workspace_id, password_hash)
        op_ids: dict[str, set[str]] = {}
        for request in requests:
            scope = idempotency_scope(request.command)
            if (scope, request.command.op_id) not in self.recorded:
                op_ids.setdefault(scope, set()).add(request.command.op_id)
        for scope, wanted in op_ids.items():
            for op_id, request_hash, response in sql.recorded_requests(cursor, scope, list(wanted)):
                self.recorded[(scope, op_id)] = RecordedRequest(request_hash, Receipt.from_record(codec.load(response)))
        self._load_keyed(requests)
        by_workspace: dict[str, set[str]] = {}
        for request in requests:
            command = request.command
            event_id = command.event_id
            if event_id is None and command.event_key is not None:
                event_id = self.keyed.get((request.workspace_id, command.channel_id, command.event_key))
            if event_id and (request.workspace_id, event_id) not in self.slots:
                by_workspace.setdefault(request.workspace_id, set()).add(event_id)
        for workspace_id, event_ids in by_workspace.items():
            for row in sql.events(cursor, workspace_id, list(event_ids)):
                event = row_to_event(_RowMapping(row))  # type: ignore[arg-type]
                self.slots[(workspace_id, event["id"])] = _EventSlot(event, original_tags=list(event["tags"]))
        codes: dict[str, set[str]] = {}
        for request in requests:
            event_type = request.command.event_type
            if event_type and (request.workspace_id, event_type.lower()) not in self.types:
                codes.setdefault(request.workspace_id, set()).add(event_type.lower())
        for workspace_id, code_keys in codes.items():
            for type_id, code, code_key, status, kind in sql.event_types(cursor, workspace_id, list(code_keys)):
                self.types[(workspace_id, code_key)] = EventTypeState(
                    code=code, active=status == 1, system=kind == "SYSTEM", id=type_id)

    def _load_keyed(self, requests: list[WriteRequest]) -> None:
        """Which ongoing event each intake key names (keys this batch already knows are kept)."""
        wanted: dict[str, set[str]] = {}
        for request in requests:
            command = request.command
            if command.event_id is None and command.event_key is not None:
                key = (request.workspace_id, command.channel_id, command.event_key)
                if key not in self.keyed:
                    self.keyed[key] = None
                    wanted.setdefault(request.workspace_id, set()).add(command.event_key)
        for workspace_id, keys in wanted.items():
            for channel_id, intake_key, event_id in self.sql.ongoing_keyed_events(self.cursor, workspace_id,
                                                                                   sorted(keys)):
                if (workspace_id, channel_id, intake_key) in self.keyed:
                    self.keyed[(workspace_id, channel_id, intake_key)] = event_id

    # deciding ---------------------------------------------------------------------------

    def _decide(self, request: WriteRequest) -> WriteOutcome | DomainError:
        command, workspace_id = request.command, request.workspace_id
        scope = idempotency_scope(command)
        keyed = (workspace_id, command.channel_id, command.event_key) if command.event_key else None
        if keyed is not None and command.event_id is None and (scope, command.op_id) not in self.recorded:
            # A replay is answered from its record, whatever became of the keyed event since.
            ongoing = self.keyed.get(keyed)
            slot = self.slots.get((workspace_id, ongoing)) if ongoing else None
            if slot is not None and slot.event["state"] != ONGOING:  # closed by another write of this batch
                ongoing = None
            try:
                command = resolve_keyed(command, ongoing)
            except DomainError as error:
                return error
        slot = self.slots.get((workspace_id, command.event_id)) if command.event_id else None
        snapshot = Snapshot(
            workspace_id=workspace_id, last_seq=self.last_seq[workspace_id], received_at=request.received_at,
            verified_password_hash=request.verified_password_hash,
            channel=self.channels.get(command.channel_id) if command.channel_id else None,
            recorded=self.recorded.get((scope, command.op_id)),
            event=slot.event if slot is not None else None,
            event_type=self.types.get((workspace_id, command.event_type.lower())) if command.event_type else None,
            strict_event_types=self.strict_event_types,
        )
        decision = decide(snapshot, command)
        if isinstance(decision, DomainError):
            return decision
        if not isinstance(decision, Change):
            return WriteOutcome(receipt=decision.receipt, replayed=True)
        self._apply(workspace_id, decision)
        if keyed is not None:
            self.keyed[keyed] = decision.event["id"] if decision.event["state"] == ONGOING else None
        if decision.record is not None:
            self.recorded[(scope, command.op_id)] = decision.record
            self.new_records.append((scope, command.op_id, decision.record.request_hash,
                                     codec.dump(decision.receipt.as_record()), request.received_at))
        return WriteOutcome(receipt=decision.receipt, replayed=False, operation=decision.operation)

    def _apply(self, workspace_id: str, change: Change) -> None:
        event = change.event
        if change.register_type is not None:
            type_id = self.sql.register_type(self.cursor, workspace_id, change.register_type, now_ms())
            self.types[(workspace_id, change.register_type.lower())] = EventTypeState(
                code=change.register_type, active=True, system=False, id=type_id)
            event["event_type_id"] = type_id
        key = (workspace_id, event["id"])
        if change.created:
            slot = self.slots[key] = _EventSlot(event, is_new=True)
        else:
            slot = self.slots[key]
            slot.event = event
            slot.dirty = True
            slot.deleted = change.deleted
        self.last_seq[workspace_id] = change.operation.seq
        self.operations.append((change.operation, slot))

    # writing ----------------------------------------------------------------------------

    def write(self) -> None:
        """Write everything decided, in a handful of statements."""
        sql, cursor = self.sql, self.cursor
        slots = list(self.slots.values())
        new_slots = [s for s in slots if s.is_new]
        if new_slots:
            for slot, pk in zip(new_slots, sql.insert_events(cursor, [event_to_row(s.event) for s in new_slots])):
                slot.event["pk"] = pk
        changed = [s for s in slots if s.dirty and not s.is_new and not s.deleted]
        if changed:
            rows = [event_to_row(s.event) for s in changed]
            columns = tuple(name for name in rows[0] if name not in IMMUTABLE_EVENT_COLUMNS)
            sql.update_events(cursor, columns, [(slot.event["pk"], *(row[name] for name in columns))
                                                for row, slot in zip(rows, changed)])
        deleted = [s.event["pk"] for s in slots if s.deleted]  # a new event deleted in this batch too
        retagged = [s for s in slots if not s.deleted and (s.is_new or s.event["tags"] != s.original_tags)]
        sql.delete_tags(cursor, deleted + [s.event["pk"] for s in retagged if not s.is_new])
        tag_rows = [(s.event["workspace_id"], tag, s.event["pk"]) for s in retagged for tag in s.event["tags"]]
        sql.insert_rows(cursor, "event_tags", TAG_COLUMNS, tag_rows)
        sql.delete_events(cursor, deleted)
        sql.insert_rows(cursor, "operations", OPERATION_COLUMNS, [
            _in_order(OPERATION_COLUMNS, {
                "workspace_id": op.workspace_id, "seq": op.seq, "event_pk": slot.event["pk"],
                "event_id": op.event_id, "channel_id": op.channel_id, "op_id": op.op_id, "kind": op.kind,
                "fields": codec.dump(op.fields), "event_time": op.event_time, "received_at": op.received_at,
                "event": codec.dump(op.event),
            })
            for op, slot in self.operations
        ])
        sql.insert_rows(cursor, "idempotency_records", IDEMPOTENCY_COLUMNS, [
            _in_order(IDEMPOTENCY_COLUMNS, dict(zip(
                ("channel_id", "op_id", "request_hash", "response", "created_at"), record)))
            for record in self.new_records
        ])
        for workspace_id, last_seq in self.last_seq.items():
            sql.update_sequence(cursor, workspace_id, last_seq)


def _in_order(columns: list[str], row: dict[str, Any]) -> tuple[Any, ...]:
    """A row dict as a tuple in table column order (a missing column is a schema/writer mismatch)."""
    return tuple(row[name] for name in columns)


class _RowMapping:
    """Lets store/events.py's row_to_event (the one row → event mapping) read a plain dict."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping
