"""Reading one event and its timeline for API-key callers."""

from __future__ import annotations

from typing import Any

import anyio

from eventgate.domain.errors import not_found
from eventgate.ids import TOKEN_PATTERN
from eventgate.store.database import Database
from eventgate.store.events import event_after_operation, get_event, timeline


class EventReader:
    def __init__(self, database: Database) -> None:
        self.database = database

    def _event(self, workspace_id: str, event_id: str) -> dict[str, Any] | None:
        with self.database.reader.connect() as connection:
            return get_event(connection, workspace_id, event_id)

    async def event(self, workspace_id: str, event_id: str) -> dict[str, Any]:
        # An id no event can have is not found without a query (a NUL in it would make PostgreSQL raise).
        if len(event_id) > 128 or not TOKEN_PATTERN.match(event_id):
            raise not_found("event_not_found", f"event {event_id[:128]!r} does not exist")
        event = await anyio.to_thread.run_sync(self._event, workspace_id, event_id)
        if event is None:
            raise not_found("event_not_found", f"event {event_id} does not exist")
        return event

    def _event_after(self, workspace_id: str, seq: int) -> dict[str, Any] | None:
        with self.database.reader.connect() as connection:
            return event_after_operation(connection, workspace_id, seq)

    async def event_after(self, workspace_id: str, seq: int) -> dict[str, Any] | None:
        """The event as the operation numbered seq left it, or None when there is no such operation."""
        return await anyio.to_thread.run_sync(self._event_after, workspace_id, seq)

    def _timeline(self, event_pk: int) -> list[dict[str, Any]]:
        with self.database.reader.connect() as connection:
            return timeline(connection, event_pk)

    async def timeline(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        return await anyio.to_thread.run_sync(self._timeline, event["pk"])
