"""Housekeeping that must never hold up a write: forgetting old idempotency records and, with
`--retention-days`, removing old closed events (store/retention.py).

It runs in its own thread on the reader engine's connections, deleting a small batch per short
transaction, so the group commit never waits behind one long DELETE (on SQLite each small
transaction takes the write lock only for a moment). Retention runs once at start, then every
`retention_interval`; stopping is prompt (checked between batches).
"""

from __future__ import annotations

import logging
import threading
import time

from eventgate.domain.times import now_ms
from eventgate.store.database import Database
from eventgate.store.dialects import write_statements
from eventgate.store.retention import RETENTION_BATCH, RetentionResult, remove_expired_events
from eventgate.store.write_lock import WriteLock

log = logging.getLogger("eventgate.maintenance")
# What the operator sees at the default log level (eventgate's own loggers start at WARNING).
operator_log = logging.getLogger("uvicorn.error")

SWEEP_INTERVAL_SECONDS = 600.0
SWEEP_BATCH = 1000
RETENTION_INTERVAL_SECONDS = 300.0


class Maintenance:
    def __init__(self, database: Database, *, idempotency_retention_ms: int,
                 interval: float = SWEEP_INTERVAL_SECONDS, event_retention_ms: int | None = None,
                 retention_interval: float = RETENTION_INTERVAL_SECONDS,
                 retention_batch: int = RETENTION_BATCH) -> None:
        self.database = database
        self.retention_ms = idempotency_retention_ms
        self.interval = interval
        # Closed events older than this are removed; None keeps everything.
        self.event_retention_ms = event_retention_ms
        self.retention_interval = retention_interval
        self.retention_batch = retention_batch
        # How far the search for deleted events got, per workspace (store.retention).
        self._deletions_scanned: dict[str, int] = {}
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
        clock = time.monotonic
        next_sweep = clock() + self.interval
        next_retention = clock() if self.event_retention_ms is not None else float("inf")
        while not self._stop.wait(max(0.0, min(next_sweep, next_retention) - clock())):
            if clock() >= next_retention:
                try:
                    self.remove_expired_events()
                except Exception:  # noqa: BLE001 — the next round tries again; writes are unaffected
                    log.warning("removing expired events failed", exc_info=True)
                next_retention = clock() + self.retention_interval
            if clock() >= next_sweep:
                try:
                    self.sweep_idempotency_records()
                except Exception:  # noqa: BLE001 — the next round tries again; writes are unaffected
                    log.warning("sweeping idempotency records failed", exc_info=True)
                next_sweep = clock() + self.interval

    def remove_expired_events(self, *, now: int | None = None) -> RetentionResult:
        """One retention round (nothing when retention is off)."""
        if self.event_retention_ms is None:
            return RetentionResult()
        started = time.monotonic()
        result = remove_expired_events(self.database, older_than_ms=self.event_retention_ms, now=now,
                                       batch_size=self.retention_batch, should_stop=self._stop.is_set,
                                       deletions_scanned=self._deletions_scanned)
        if result.operations:
            operator_log.info("retention removed %d closed events, the timelines of %d deleted events and %d "
                              "operations in %d transactions (%.1f s); marks now %s", result.events,
                              result.deleted_timelines, result.operations, result.transactions,
                              time.monotonic() - started, result.marks)
        return result

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
