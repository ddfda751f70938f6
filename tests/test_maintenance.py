"""Housekeeping off the write path: old idempotency records go, a small transaction at a time."""

from __future__ import annotations

import sqlalchemy as sa

from eventgate.domain.times import now_ms
from eventgate.store import maintenance
from eventgate.store.maintenance import Maintenance
from eventgate.store.schema import idempotency_records

DAY_MS = 86_400_000


def _records(database, channel_id: str, count: int, created_at: int) -> None:
    with database.writer.begin() as connection:
        connection.execute(sa.insert(idempotency_records), [
            {"channel_id": channel_id, "op_id": f"op-{created_at}-{i}", "request_hash": "h", "response": "{}",
             "created_at": created_at} for i in range(count)])


def _left(database, channel_id: str) -> int:
    with database.reader.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(idempotency_records)
                                  .where(idempotency_records.c.channel_id == channel_id)).scalar_one()


def test_sweep_removes_only_records_older_than_the_retention(migrated_database, monkeypatch):
    monkeypatch.setattr(maintenance, "SWEEP_BATCH", 100)  # several small transactions
    channel_id = "SWEEPTEST" + str(now_ms())[-10:]
    _records(migrated_database, channel_id, 250, now_ms() - 8 * DAY_MS)
    _records(migrated_database, channel_id, 7, now_ms() - 1 * DAY_MS)
    removed = Maintenance(migrated_database, idempotency_retention_ms=7 * DAY_MS).sweep_idempotency_records()
    assert removed >= 250  # other tests' old records may go too
    assert _left(migrated_database, channel_id) == 7

