"""Wrong channel passwords per (channel, client address), counted in the database so that every
process of a deployment shares one limit.

An attempt is *reserved* before the slow check runs (the count goes up first) and *refunded*
if the password turns out right, so the count is the number of slow checks that failed or are
still running in the current window. A window starts with its first attempt, and again when
that attempt's check fails (the moment the first wrong password is known); it lasts
`window_ms`, and the next attempt after it starts a new one.

Each call is one tiny transaction outside the group-commit writer. On SQLite it takes the same
cross-process write lock as the writer (store/write_lock.py), so it waits its turn in the
kernel instead of in SQLite's busy handler.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from eventgate.store.database import Database
from eventgate.store.schema import password_failures as table
from eventgate.store.write_lock import WriteLock

SWEEP_BATCH = 500


@dataclass(frozen=True, slots=True)
class Attempts:
    """The count of a (channel, address) in its current window, and whether an attempt got in."""

    failures: int
    window_started_at: int
    admitted: bool = True


class PasswordFailures:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._insert = sqlite.insert if database.is_sqlite else postgresql.insert
        self._write_lock = WriteLock.for_database(database)
        # One WriteLock holds one descriptor, and flock() on a descriptor the process already
        # holds returns at once: the threads of this process take turns here first.
        self._turn = threading.Lock()

    def reserve(self, channel_id: str, address: str, *, limit: int, window_ms: int, now: int) -> Attempts:
        """Count one more attempt unless `limit` are already counted in the current window.

        The count stops at limit + 1 (a refused attempt), so a guesser cannot make it grow."""
        insert = self._insert(table).values(channel_id=channel_id, address=address, window_started_at=now,
                                            failures=1)
        expired = insert.excluded.window_started_at - table.c.window_started_at >= window_ms
        upsert = insert.on_conflict_do_update(
            index_elements=[table.c.channel_id, table.c.address],
            set_={
                "window_started_at": sa.case((expired, insert.excluded.window_started_at),
                                             else_=table.c.window_started_at),
                "failures": sa.case((expired, 1), (table.c.failures > limit, table.c.failures),
                                    else_=table.c.failures + 1),
            },
        ).returning(table.c.failures, table.c.window_started_at)
        with self._writing() as connection:
            failures, started = connection.execute(upsert).one()
        return Attempts(failures, started, admitted=failures <= limit)

    def refund(self, channel_id: str, address: str, window_started_at: int, window_ms: int) -> None:
        """Give back an attempt whose password was right, in the window it was counted in (whose
        start may have moved up to its first failure since, but no further)."""
        with self._writing() as connection:
            connection.execute(
                sa.update(table)
                .where(table.c.channel_id == channel_id, table.c.address == address,
                       table.c.window_started_at >= window_started_at,
                       table.c.window_started_at < window_started_at + window_ms, table.c.failures > 0)
                .values(failures=table.c.failures - 1))

    def start_window_at(self, channel_id: str, address: str, window_started_at: int, now: int) -> None:
        """Start the window that began at `window_started_at` again at `now`, when its first
        attempt has just failed: a window lasts from the first wrong password, however long the
        check of it took."""
        with self._writing() as connection:
            connection.execute(
                sa.update(table)
                .where(table.c.channel_id == channel_id, table.c.address == address,
                       table.c.window_started_at == window_started_at)
                .values(window_started_at=sa.func.max(table.c.window_started_at, now)
                        if self.database.is_sqlite else sa.func.greatest(table.c.window_started_at, now)))

    def current(self, channel_id: str, address: str, *, window_ms: int, now: int) -> Attempts | None:
        """The count in the current window, or None when there is none."""
        with self.database.reader.connect() as connection:
            row = connection.execute(
                sa.select(table.c.failures, table.c.window_started_at)
                .where(table.c.channel_id == channel_id, table.c.address == address)).first()
        if row is None or now - row.window_started_at >= window_ms:
            return None
        return Attempts(row.failures, row.window_started_at)

    def sweep(self, cutoff: int, batch: int = SWEEP_BATCH) -> int:
        """Forget at most `batch` windows started before `cutoff`; returns how many went."""
        with self._writing() as connection:
            result = connection.execute(
                sa.delete(table).where(sa.tuple_(table.c.channel_id, table.c.address).in_(
                    sa.select(table.c.channel_id, table.c.address)
                    .where(table.c.window_started_at < cutoff).limit(batch))))
        return max(result.rowcount, 0)

    def close(self) -> None:
        self._write_lock.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        """A short transaction on the reader pool, under the write lock. The connection is taken
        first: waiting for one while holding the lock would hold up every writer."""
        with self._turn, self.database.reader.connect() as connection, self._write_lock, connection.begin():
            yield connection
