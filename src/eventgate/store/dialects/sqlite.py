"""The write path's SQL on SQLite.

Every statement takes all rows of a batch as one parameter, a JSON array read with json_each(),
and reads come back as one JSON array. The sqlite3 driver releases the GIL for every row it
steps (executemany, fetchall); each time, the writer thread must win it back from the busy event
loop thread, which costs up to a switch interval. Here a batch is about ten driver steps whatever
its size, and each statement has one SQL text, always prepared.

The transaction holds SQLite's write lock from BEGIN IMMEDIATE (and, between processes, the
lock of store/write_lock.py), so the pks SQLite would pick for new events are known in advance.
"""

from __future__ import annotations

from typing import Any

from eventgate.store import codec
from eventgate.store.dialects.base import EVENT_COLUMNS, Row, WriteStatements, column_list, quoted

IN_JSON = "SELECT value FROM json_each(?)"


class SqliteWriteStatements(WriteStatements):
    def __init__(self) -> None:
        super().__init__()
        self._select_events = (
            f"SELECT json_group_array(json_array({column_list(EVENT_COLUMNS, 'e.')}, t.code)) FROM events e "
            "LEFT JOIN event_types t ON t.id = e.event_type_id "
            f"WHERE e.workspace_id = ? AND e.id IN ({IN_JSON})")

    def lock_sequence(self, cursor: Any, workspace_id: str) -> int | None:
        # BEGIN IMMEDIATE already holds the only write lock: reading the row is enough.
        cursor.execute("SELECT last_seq FROM sequences WHERE workspace_id = ?", (workspace_id,))
        row = cursor.fetchone()
        return None if row is None else row[0]

    def update_sequence(self, cursor: Any, workspace_id: str, last_seq: int) -> None:
        cursor.execute("UPDATE sequences SET last_seq = ? WHERE workspace_id = ?", (last_seq, workspace_id))

    def channels(self, cursor: Any, channel_ids: list[str]) -> list[Row]:
        cursor.execute(f"SELECT id, workspace_id, password_hash FROM channels WHERE id IN ({IN_JSON})",
                       (codec.dump(channel_ids),))
        return cursor.fetchall()

    def recorded_requests(self, cursor: Any, scope: str, op_ids: list[str]) -> list[Row]:
        cursor.execute("SELECT op_id, request_hash, response FROM idempotency_records "
                       f"WHERE channel_id = ? AND op_id IN ({IN_JSON})", (scope, codec.dump(op_ids)))
        return cursor.fetchall()

    def events(self, cursor: Any, workspace_id: str, event_ids: list[str]) -> list[dict[str, Any]]:
        cursor.execute(self._select_events, (workspace_id, codec.dump(event_ids)))
        names = (*EVENT_COLUMNS, "event_type")
        return [dict(zip(names, row)) for row in codec.load(cursor.fetchone()[0])]

    def ongoing_keyed_events(self, cursor: Any, workspace_id: str, intake_keys: list[str]) -> list[Row]:
        cursor.execute("SELECT channel_id, intake_key, id FROM events WHERE workspace_id = ? "
                       f"AND intake_key IS NOT NULL AND intake_key IN ({IN_JSON}) AND state = 'ongoing'",
                       (workspace_id, codec.dump(intake_keys)))
        return cursor.fetchall()

    def event_types(self, cursor: Any, workspace_id: str, code_keys: list[str]) -> list[Row]:
        cursor.execute("SELECT id, code, code_key, status, type FROM event_types "
                       f"WHERE workspace_id = ? AND code_key IN ({IN_JSON})", (workspace_id, codec.dump(code_keys)))
        return cursor.fetchall()

    def register_type(self, cursor: Any, workspace_id: str, code: str, now: int) -> int:
        cursor.execute(
            "INSERT INTO event_types (workspace_id, name, code, code_key, status, type, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 1, 'CUSTOM', ?, ?) RETURNING id", (workspace_id, code, code, code.lower(), now, now))
        return cursor.fetchone()[0]

    def insert_events(self, cursor: Any, rows: list[dict[str, Any]]) -> list[int]:
        # The highest pk ever handed out (events uses AUTOINCREMENT, so a deleted event's pk, still
        # named by its operations, is never reused), or the highest present if larger. Inserting an
        # explicit pk advances sqlite_sequence too.
        cursor.execute("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
                       "COALESCE((SELECT MAX(pk) FROM events), 0))")
        last_pk = cursor.fetchone()[0]
        pks = list(range(last_pk + 1, last_pk + 1 + len(rows)))
        columns = [*rows[0], "pk"]
        self.insert_rows(cursor, "events", columns, [(*row.values(), pk) for row, pk in zip(rows, pks)])
        return pks

    def update_events(self, cursor: Any, columns: tuple[str, ...], rows: list[Row]) -> None:
        """`UPDATE … FROM json_each(?)`, each element [pk, value, …] (UPDATE FROM: SQLite >= 3.33)."""
        def build() -> str:
            assignments = ", ".join(f"{quoted(name)} = json_extract(v.value, '$[{index + 1}]')"
                                    for index, name in enumerate(columns))
            return (f"UPDATE events SET {assignments} FROM json_each(?) AS v "
                    "WHERE events.pk = json_extract(v.value, '$[0]')")
        cursor.execute(self._cached(("update", columns), build), (codec.dump(rows),))

    def delete_tags(self, cursor: Any, event_pks: list[int]) -> None:
        if event_pks:
            cursor.execute(f"DELETE FROM event_tags WHERE event_pk IN ({IN_JSON})", (codec.dump(event_pks),))

    def delete_events(self, cursor: Any, event_pks: list[int]) -> None:
        if event_pks:
            cursor.execute(f"DELETE FROM events WHERE pk IN ({IN_JSON})", (codec.dump(event_pks),))

    def insert_rows(self, cursor: Any, table: str, columns: list[str], rows: list[Row]) -> None:
        def build() -> str:
            values = ", ".join(f"json_extract(value, '$[{index}]')" for index in range(len(columns)))
            return f"INSERT INTO {table} ({column_list(columns)}) SELECT {values} FROM json_each(?)"
        if rows:
            cursor.execute(self._cached(("insert", table, tuple(columns)), build), (codec.dump(rows),))

    def sweep_idempotency_records(self, cursor: Any, cutoff: int, limit: int) -> int:
        cursor.execute("DELETE FROM idempotency_records WHERE rowid IN (SELECT rowid FROM idempotency_records "
                       "WHERE created_at < ? LIMIT ?)", (cutoff, limit))
        return cursor.rowcount
