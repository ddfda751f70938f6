"""The write path's SQL on PostgreSQL.

psycopg fetches whole results and pipelines executemany, so rows cost no GIL hand-off:
multi-row VALUES, their row counts split into powers of two (21 rows → 16 + 4 + 1) so that
a handful of SQL texts cover every batch size.

Keyed lookups are one index probe per key (LATERAL … LIMIT 1 over unnest of one text[]
parameter), not `key IN (…)`. With an IN list the planner may take only the first key column
as the index condition and filter the rest, which it does when its statistics say that range
is tiny: a new channel or workspace until the next ANALYZE. Measured: 2–5 ms per lookup growing
with the range, against 0.2 ms for the probes.
"""

from __future__ import annotations

from typing import Any

from eventgate.store.dialects.base import EVENT_COLUMNS, Row, WriteStatements, column_list, quoted

LARGEST_CHUNK = 128  # rows per statement: far below PostgreSQL's parameter limit


def chunks(items: list[Any]) -> list[list[Any]]:
    """items split into power-of-two sized runs, largest first (at most LARGEST_CHUNK)."""
    runs, start = [], 0
    while start < len(items):
        size = min(LARGEST_CHUNK, 1 << ((len(items) - start).bit_length() - 1))
        runs.append(items[start:start + size])
        start += size
    return runs


def keyed_lookup(table: str, columns: str, fixed: str, key: str) -> str:
    return (f"SELECT {columns} FROM (SELECT %s::text AS fixed, unnest(%s::text[]) AS wanted) k "
            f"CROSS JOIN LATERAL (SELECT {columns} FROM {table} "
            f"WHERE {fixed} = k.fixed AND {key} = k.wanted LIMIT 1) found")


class PostgresWriteStatements(WriteStatements):
    def __init__(self) -> None:
        super().__init__()
        self._select_idempotency = keyed_lookup("idempotency_records", "op_id, request_hash, response",
                                                "channel_id", "op_id")
        self._select_types = keyed_lookup("event_types", "id, code, code_key, status, type",
                                          "workspace_id", "code_key")
        self._select_events = (
            f"SELECT {column_list(EVENT_COLUMNS, 'e.')}, t.code FROM "
            "(SELECT %s::text AS workspace_id, unnest(%s::text[]) AS id) k "
            "CROSS JOIN LATERAL (SELECT * FROM events WHERE workspace_id = k.workspace_id AND id = k.id LIMIT 1) e "
            "LEFT JOIN event_types t ON t.id = e.event_type_id")

    def lock_sequence(self, cursor: Any, workspace_id: str) -> int | None:
        # Held until commit: nobody can take seq n+1 before the holder of n has committed.
        cursor.execute("SELECT last_seq FROM sequences WHERE workspace_id = %s FOR UPDATE", (workspace_id,))
        row = cursor.fetchone()
        return None if row is None else row[0]

    def update_sequence(self, cursor: Any, workspace_id: str, last_seq: int) -> None:
        cursor.execute("UPDATE sequences SET last_seq = %s WHERE workspace_id = %s", (last_seq, workspace_id))

    def channels(self, cursor: Any, channel_ids: list[str]) -> list[Row]:
        cursor.execute("SELECT id, workspace_id, password_hash FROM channels WHERE id = ANY(%s)", (channel_ids,))
        return cursor.fetchall()

    def recorded_requests(self, cursor: Any, scope: str, op_ids: list[str]) -> list[Row]:
        cursor.execute(self._select_idempotency, (scope, op_ids))
        return cursor.fetchall()

    def events(self, cursor: Any, workspace_id: str, event_ids: list[str]) -> list[dict[str, Any]]:
        # Planned at every execution, never from a cached plan: events has many indexes that lead
        # with workspace_id, and while the table has no statistics yet (a new database, until
        # autovacuum's first ANALYZE) they all cost the same, so a cached plan could keep one that
        # filters the whole workspace for the id (measured: 10 ms per batch and growing, against
        # under 1 ms).
        cursor.execute(self._select_events, (workspace_id, event_ids), prepare=False)
        names = (*EVENT_COLUMNS, "event_type")
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def ongoing_keyed_events(self, cursor: Any, workspace_id: str, intake_keys: list[str]) -> list[Row]:
        cursor.execute("SELECT channel_id, intake_key, id FROM events WHERE workspace_id = %s "
                       "AND intake_key IS NOT NULL AND intake_key = ANY(%s) AND state = 'ongoing'",
                       (workspace_id, intake_keys), prepare=False)
        return cursor.fetchall()

    def event_types(self, cursor: Any, workspace_id: str, code_keys: list[str]) -> list[Row]:
        cursor.execute(self._select_types, (workspace_id, code_keys))
        return cursor.fetchall()

    def register_type(self, cursor: Any, workspace_id: str, code: str, now: int) -> int:
        cursor.execute(
            "INSERT INTO event_types (workspace_id, name, code, code_key, status, type, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, 1, 'CUSTOM', %s, %s) RETURNING id",
            (workspace_id, code, code, code.lower(), now, now))
        return cursor.fetchone()[0]

    def insert_events(self, cursor: Any, rows: list[dict[str, Any]]) -> list[int]:
        columns = list(rows[0])
        position = {(row["workspace_id"], row["id"]): index for index, row in enumerate(rows)}
        pks = [0] * len(rows)
        for chunk in chunks([tuple(row.values()) for row in rows]):
            cursor.execute(self._insert_text("events", columns, len(chunk), "pk, workspace_id, id"),
                           [value for row in chunk for value in row])
            # Matched by (workspace_id, id), not by position: RETURNING order is not guaranteed.
            for pk, workspace_id, event_id in cursor.fetchall():
                pks[position[(workspace_id, event_id)]] = pk
        return pks

    def update_events(self, cursor: Any, columns: tuple[str, ...], rows: list[Row]) -> None:
        def build() -> str:
            assignments = ", ".join(f"{quoted(name)} = %s" for name in columns)
            return f"UPDATE events SET {assignments} WHERE pk = %s"
        cursor.executemany(self._cached(("update", columns), build), [(*row[1:], row[0]) for row in rows])

    def delete_tags(self, cursor: Any, event_pks: list[int]) -> None:
        if event_pks:
            cursor.execute("DELETE FROM event_tags WHERE event_pk = ANY(%s)", (event_pks,))

    def delete_events(self, cursor: Any, event_pks: list[int]) -> None:
        if event_pks:
            cursor.execute("DELETE FROM events WHERE pk = ANY(%s)", (event_pks,))

    def insert_rows(self, cursor: Any, table: str, columns: list[str], rows: list[Row]) -> None:
        for chunk in chunks(rows):
            cursor.execute(self._insert_text(table, columns, len(chunk)), [value for row in chunk for value in row])

    def sweep_idempotency_records(self, cursor: Any, cutoff: int, limit: int) -> int:
        cursor.execute("DELETE FROM idempotency_records WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_records "
                       "WHERE created_at < %s LIMIT %s))", (cutoff, limit))
        return cursor.rowcount

    def _insert_text(self, table: str, columns: list[str], rows: int, returning: str = "") -> str:
        def build() -> str:
            row = "(" + ", ".join(["%s"] * len(columns)) + ")"
            text = f"INSERT INTO {table} ({column_list(columns)}) VALUES " + ", ".join([row] * rows)
            return text + (f" RETURNING {returning}" if returning else "")
        return self._cached(("insert", table, tuple(columns), rows, returning), build)
