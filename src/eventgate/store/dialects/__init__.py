"""The write path's SQL, one implementation per database behind one interface.

The group commit (store/write_batch.py) speaks only `WriteStatements`; SQLite and PostgreSQL
each answer it in the way that is cheapest for them (see the modules' docstrings).
"""

from __future__ import annotations

from eventgate.store.dialects.base import WriteStatements


def write_statements(is_sqlite: bool) -> WriteStatements:
    if is_sqlite:
        from eventgate.store.dialects.sqlite import SqliteWriteStatements

        return SqliteWriteStatements()
    from eventgate.store.dialects.postgres import PostgresWriteStatements

    return PostgresWriteStatements()


__all__ = ["WriteStatements", "write_statements"]
