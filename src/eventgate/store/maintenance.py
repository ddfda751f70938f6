"""Housekeeping that must never hold up a write: today, forgetting old idempotency records.

It runs in its own thread on the reader engine's connections, deleting at most `SWEEP_BATCH`
rows per short transaction, so the group commit never waits behind one long DELETE (on SQLite
each small transaction takes the write lock only for a moment).
"""

from __future__ import annotations

import logging
import threading

from eventgate.domain.times import now_ms
from eventgate.store.database import Database
from eventgate.store.dialects import write_statements
from eventgate.store.write_lock import WriteLock

log = logging.getLogger("eventgate.maintenance")

SWEEP_INTERVAL_SECONDS = 600.0
SWEEP_BATCH = 1000


class Maintenance:
    def __init__(self, database: Database, *, idempotency_retention_ms: int,
                 interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        self.database = database
        self.retention_ms = idempotency_retention_ms
        self.interval = interval
        self._statements = write_statements(database.is_sqlite)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="eventgate-maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep_idempotency_records()
            except Exception:  # noqa: BLE001 — the next round tries again; writes are unaffected
                log.warning("sweeping idempotency records failed", exc_info=True)

    def sweep_idempotency_records(self) -> int:
        """Delete records older than the retention, a small transaction at a time; returns how many."""
        cutoff = now_ms() - self.retention_ms
        removed = 0
        lock = WriteLock.for_database(self.database)
        try:
            while not self._stop.is_set():
                with lock, self.database.reader.begin() as connection:
                    cursor = connection.connection.cursor()
                    try:
                        count = self._statements.sweep_idempotency_records(cursor, cutoff, SWEEP_BATCH)
                    finally:
                        cursor.close()
                removed += max(count, 0)
                if count < SWEEP_BATCH:
                    return removed
        finally:
            lock.close()
        return removed
