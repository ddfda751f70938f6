"""Reading events and their timelines, and the mapping between rows and event dicts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from eventgate.store import codec
from eventgate.store.schema import event_types, events, operations

JSON_EVENT_COLUMNS = ("tags", "images", "attrs", "metadata", "actions")

# Every event column plus the code of its type (kept by id, so a renamed code follows).
EVENT_SELECT = (
    sa.select(events, event_types.c.code.label("event_type"))
    .select_from(events.outerjoin(event_types, event_types.c.id == events.c.event_type_id))
)


def row_to_event(row: sa.Row) -> dict[str, Any]:
    m = row._mapping
    return {
        "pk": m["pk"],
        "id": m["id"],
        "workspace_id": m["workspace_id"],
        "channel_id": m["channel_id"],
        "thing_id": m["thing_id"],
        "event_type": m["event_type"],
        "event_type_id": m["event_type_id"],
        "title": m["title"],
        "message": m["message"],
        "description": m["description"],
        "status": m["status"],
        "state": m["state"],
        "severity": m["severity"],
        "tags": codec.load(m["tags"]),
        "images": codec.load(m["images"]),
        "attrs": codec.load(m["attrs"]),
        "metadata": codec.load(m["metadata"]),
        "actions": codec.load(m["actions"]),
        "started_at": m["started_at"],
        "ended_at": m["ended_at"],
        "created_at": m["created_at"],
        "updated_at": m["updated_at"],
        "seq": m["seq"],
        "intake_key": m["intake_key"],
        "acknowledged_at": m["acknowledged_at"],
        "acknowledged_by": m["acknowledged_by"],
    }


def event_to_row(event: dict[str, Any]) -> dict[str, Any]:
    row = {name: event[name] for name in (
        "workspace_id", "id", "channel_id", "thing_id", "event_type_id", "title", "message", "description",
        "status", "state", "severity", "started_at", "ended_at", "created_at", "updated_at", "seq", "intake_key",
        "acknowledged_at", "acknowledged_by",
    )}
    for name in JSON_EVENT_COLUMNS:
        row[name] = codec.dump(event[name])
    return row


def get_event(connection: sa.Connection, workspace_id: str, event_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        EVENT_SELECT.where(events.c.workspace_id == workspace_id, events.c.id == event_id)
    ).first()
    return row_to_event(row) if row else None


def row_to_operation(row: sa.Row) -> dict[str, Any]:
    m = row._mapping
    return {
        "seq": m["seq"],
        "workspace_id": m["workspace_id"],
        "op_id": m["op_id"],
        "kind": m["kind"],
        "event_id": m["event_id"],
        "channel_id": m["channel_id"],
        "event_time": m["event_time"],
        "received_at": m["received_at"],
        "fields": codec.load(m["fields"]),
        "event": codec.load(m["event"]),
    }


def timeline(connection: sa.Connection, event_pk: int) -> list[dict[str, Any]]:
    rows = connection.execute(
        sa.select(operations).where(operations.c.event_pk == event_pk).order_by(operations.c.seq)
    )
    return [row_to_operation(r) for r in rows]


def operations_after(connection: sa.Connection, workspace_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Operations of a workspace with seq > after_seq, oldest first (for resuming streams)."""
    rows = connection.execute(
        sa.select(operations)
        .where(operations.c.workspace_id == workspace_id, operations.c.seq > after_seq)
        .order_by(operations.c.seq)
        .limit(limit)
    )
    return [row_to_operation(r) for r in rows]


def event_after_operation(connection: sa.Connection, workspace_id: str, seq: int) -> dict[str, Any] | None:
    """The event as the operation numbered seq left it (what its producer was told)."""
    text = connection.execute(
        sa.select(operations.c.event).where(operations.c.workspace_id == workspace_id, operations.c.seq == seq)
    ).scalar()
    return codec.load(text) if text is not None else None


def count_operations(connection: sa.Connection, workspace_id: str) -> int:
    return connection.execute(
        sa.select(sa.func.count()).select_from(operations).where(operations.c.workspace_id == workspace_id)
    ).scalar_one()
