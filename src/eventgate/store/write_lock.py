"""SQLite only: one writing transaction at a time across every process of a deployment.

SQLite allows one writer; a second process's BEGIN IMMEDIATE would spin in SQLite's busy
handler, which sleeps and retries (1, 2, 5, 10 … ms) and so adds its sleeps to the tail latency
of every batch. An exclusive flock on a file beside the database makes the other writers wait
in the kernel instead, woken the moment the holder commits, with the GIL released. The kernel
drops the lock of a process that dies, so kill -9 never leaves it held.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from eventgate.store.database import Database


class WriteLock:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_database(cls, database: Database) -> "WriteLock":
        """The lock of a SQLite file; a lock that does nothing for PostgreSQL (its row locks order
        the writers) and for in-memory SQLite (one process only)."""
        if not database.is_sqlite:
            return cls(None)
        name = sa.make_url(database.url).database
        if not name or name == ":memory:":
            return cls(None)
        return cls(Path(name).expanduser().resolve().with_name(Path(name).name + ".writelock"))

    def __enter__(self) -> "WriteLock":
        if self.path is not None:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
