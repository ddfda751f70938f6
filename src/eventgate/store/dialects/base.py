"""What the write path asks of a database, whatever the dialect.

Every method takes the transaction's DB-API cursor and a whole batch's worth of keys or rows,
so that a batch costs a handful of statements however many requests it holds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable

from eventgate.store.schema import events, idempotency_records, operations

Row = tuple[Any, ...]

EVENT_COLUMNS = [c.name for c in events.columns]
OPERATION_COLUMNS = [c.name for c in operations.columns]
IDEMPOTENCY_COLUMNS = [c.name for c in idempotency_records.columns]
TAG_COLUMNS = ["workspace_id", "tag", "event_pk"]
# Columns an operation never changes: left out of UPDATE so that their indexes are not rewritten.
IMMUTABLE_EVENT_COLUMNS = frozenset({"workspace_id", "id", "channel_id", "created_at", "intake_key"})


def quoted(name: str) -> str:
    return f'"{name}"'


def column_list(names: list[str] | tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(prefix + quoted(name) for name in names)


class WriteStatements(ABC):
    """One instance per writer; SQL texts are built once and cached."""

    def __init__(self) -> None:
        self._texts: dict[tuple[Any, ...], str] = {}

    def _cached(self, key: tuple[Any, ...], build: Callable[[], str]) -> str:
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = build()
        return text

    @abstractmethod
    def lock_sequence(self, cursor: Any, workspace_id: str) -> int | None:
        """Lock the workspace's seq row until commit and return its last seq (None: no such row)."""

    @abstractmethod
    def update_sequence(self, cursor: Any, workspace_id: str, last_seq: int) -> None: ...

    @abstractmethod
    def channels(self, cursor: Any, channel_ids: list[str]) -> list[Row]:
        """(id, workspace_id, password_hash) of each channel that exists."""

    @abstractmethod
    def recorded_requests(self, cursor: Any, scope: str, op_ids: list[str]) -> list[Row]:
        """(op_id, request_hash, response) of the idempotency records of these keys."""

    @abstractmethod
    def events(self, cursor: Any, workspace_id: str, event_ids: list[str]) -> list[dict[str, Any]]:
        """Each existing event's row as a mapping of column name → value, plus `event_type` (its code)."""

    @abstractmethod
    def ongoing_keyed_events(self, cursor: Any, workspace_id: str, intake_keys: list[str]) -> list[Row]:
        """(channel_id, intake_key, id) of the ongoing events that carry one of these intake keys."""

    @abstractmethod
    def event_types(self, cursor: Any, workspace_id: str, code_keys: list[str]) -> list[Row]:
        """(id, code, code_key, status, type) of each registered type."""

    @abstractmethod
    def register_type(self, cursor: Any, workspace_id: str, code: str, now: int) -> int:
        """Register a CUSTOM type; returns its id."""

    @abstractmethod
    def insert_events(self, cursor: Any, rows: list[dict[str, Any]]) -> list[int]:
        """Insert new events (rows without pk); returns their pks in the same order."""

    @abstractmethod
    def update_events(self, cursor: Any, columns: tuple[str, ...], rows: list[Row]) -> None:
        """Each row is (pk, value of each column…)."""

    @abstractmethod
    def delete_tags(self, cursor: Any, event_pks: list[int]) -> None: ...

    @abstractmethod
    def delete_events(self, cursor: Any, event_pks: list[int]) -> None: ...

    @abstractmethod
    def insert_rows(self, cursor: Any, table: str, columns: list[str], rows: list[Row]) -> None: ...

    @abstractmethod
    def sweep_idempotency_records(self, cursor: Any, cutoff: int, limit: int) -> int:
        """Delete at most `limit` records created before cutoff; returns how many went."""
