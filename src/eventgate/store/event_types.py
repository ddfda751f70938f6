"""The event-type registry as stored: reading, paging and changing `event_types` rows.

Codes are unique per workspace case-insensitively through `code_key` (the lower-cased code)
and the unique constraint on (workspace_id, code_key). Events point at their type by id,
so renaming a code never detaches the events that carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from eventgate.domain.times import now_ms
from eventgate.store.schema import event_types, events, sequences

ACTIVE = 1
INACTIVE = 0
CUSTOM = "CUSTOM"
SYSTEM = "SYSTEM"


@dataclass(frozen=True, slots=True)
class EventType:
    id: int
    name: str
    code: str
    status: int
    type: str

    @property
    def is_system(self) -> bool:
        return self.type == SYSTEM

    def view(self) -> dict[str, Any]:
        """The type as seed 003 shows it."""
        return {"id": self.id, "name": self.name, "code": self.code, "status": self.status, "type": self.type}


_COLUMNS = (event_types.c.id, event_types.c.name, event_types.c.code, event_types.c.status, event_types.c.type)


def _from_row(row: sa.Row) -> EventType:
    return EventType(id=int(row.id), name=row.name, code=row.code, status=int(row.status), type=row.type)


def lock_workspace_writes(connection: sa.Connection, workspace_id: str, *, is_postgres: bool) -> bool:
    """Take the lock every event write of the workspace takes (its `sequences` row).

    Holding it orders a registry change with the event writes around it: an event either
    committed before a deactivate/delete/rename or sees its result. On SQLite the
    transaction's write lock (BEGIN IMMEDIATE) already does this. False if no such workspace.
    """
    query = sa.select(sequences.c.workspace_id).where(sequences.c.workspace_id == workspace_id)
    if is_postgres:
        query = query.with_for_update()
    return connection.execute(query).first() is not None


def count_types(connection: sa.Connection, workspace_id: str) -> int:
    return connection.execute(
        sa.select(sa.func.count()).select_from(event_types).where(event_types.c.workspace_id == workspace_id)
    ).scalar_one()


def list_types(connection: sa.Connection, workspace_id: str, *, offset: int = 0,
               limit: int | None = None) -> list[EventType]:
    """A workspace's types in id order (SYSTEM types first: they are created with the workspace)."""
    query = (sa.select(*_COLUMNS).where(event_types.c.workspace_id == workspace_id)
             .order_by(event_types.c.id).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    return [_from_row(row) for row in connection.execute(query)]


def find_type(connection: sa.Connection, workspace_id: str, type_id: int) -> EventType | None:
    row = connection.execute(
        sa.select(*_COLUMNS).where(event_types.c.workspace_id == workspace_id, event_types.c.id == type_id)
    ).first()
    return _from_row(row) if row else None


def find_type_by_code(connection: sa.Connection, workspace_id: str, code: str) -> EventType | None:
    """The type whose code equals `code` ignoring case."""
    row = connection.execute(
        sa.select(*_COLUMNS).where(event_types.c.workspace_id == workspace_id,
                                   event_types.c.code_key == code.lower())
    ).first()
    return _from_row(row) if row else None


def insert_custom_type(connection: sa.Connection, workspace_id: str, name: str, code: str) -> int:
    """Insert an active CUSTOM type; a taken code raises IntegrityError (uq_event_types_code)."""
    now = now_ms()
    return int(connection.execute(
        sa.insert(event_types).values(
            workspace_id=workspace_id, name=name, code=code, code_key=code.lower(), status=ACTIVE,
            type=CUSTOM, created_at=now, updated_at=now,
        ).returning(event_types.c.id)
    ).scalar_one())


def rename_type(connection: sa.Connection, workspace_id: str, type_id: int, name: str, code: str) -> None:
    connection.execute(
        sa.update(event_types)
        .where(event_types.c.workspace_id == workspace_id, event_types.c.id == type_id)
        .values(name=name, code=code, code_key=code.lower(), updated_at=now_ms())
    )


def set_type_status(connection: sa.Connection, workspace_id: str, type_id: int, status: int) -> None:
    connection.execute(
        sa.update(event_types)
        .where(event_types.c.workspace_id == workspace_id, event_types.c.id == type_id)
        .values(status=status, updated_at=now_ms())
    )


def delete_type(connection: sa.Connection, workspace_id: str, type_id: int) -> None:
    connection.execute(
        sa.delete(event_types).where(event_types.c.workspace_id == workspace_id, event_types.c.id == type_id)
    )


def count_events_of_type(connection: sa.Connection, workspace_id: str, type_id: int) -> int:
    """How many stored events (ongoing or closed) carry the type; uses ix_events_type."""
    return connection.execute(
        sa.select(sa.func.count()).select_from(events)
        .where(events.c.workspace_id == workspace_id, events.c.event_type_id == type_id)
    ).scalar_one()
