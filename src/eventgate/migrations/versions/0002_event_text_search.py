"""Text search for `GET /events?q=`: case-insensitive substring match in title and message.

SQLite: an FTS5 table with the trigram tokenizer over events(title, message) (external content,
kept in step by triggers). PostgreSQL: pg_trgm GIN indexes on title and message, used by ILIKE.
Both answer a substring query of three or more characters without reading the whole table.

If pg_trgm cannot be created (a role without the right), the migration still succeeds: the
query stays correct and only loses its index (a warning is logged).

Revision ID: 0002
Revises: 0001
"""

import logging

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

log = logging.getLogger("eventgate.migrations")

SQLITE_UPGRADE = (
    "CREATE VIRTUAL TABLE events_fts USING fts5("
    "title, message, content='events', content_rowid='pk', tokenize='trigram')",
    "INSERT INTO events_fts(events_fts) VALUES ('rebuild')",
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN "
    "INSERT INTO events_fts(rowid, title, message) VALUES (new.pk, new.title, new.message); END",
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN "
    "INSERT INTO events_fts(events_fts, rowid, title, message) VALUES ('delete', old.pk, old.title, old.message); "
    "END",
    # The writer rewrites every column on update; only a changed text needs re-indexing.
    "CREATE TRIGGER events_fts_update AFTER UPDATE OF title, message ON events "
    "WHEN old.title IS NOT new.title OR old.message IS NOT new.message BEGIN "
    "INSERT INTO events_fts(events_fts, rowid, title, message) VALUES ('delete', old.pk, old.title, old.message); "
    "INSERT INTO events_fts(rowid, title, message) VALUES (new.pk, new.title, new.message); END",
)

SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS events_fts_update",
    "DROP TRIGGER IF EXISTS events_fts_delete",
    "DROP TRIGGER IF EXISTS events_fts_insert",
    "DROP TABLE IF EXISTS events_fts",
)

POSTGRES_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_events_title_trgm ON events USING gin (title gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_events_message_trgm ON events USING gin (message gin_trgm_ops)",
)


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for statement in SQLITE_UPGRADE:
            connection.exec_driver_sql(statement)
        return
    savepoint = connection.begin_nested()
    try:
        connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for statement in POSTGRES_INDEXES:
            connection.exec_driver_sql(statement)
    except Exception as error:  # noqa: BLE001 — any refusal leaves search correct, only unindexed
        savepoint.rollback()
        log.warning("pg_trgm unavailable (%s); text search on events will not use an index",
                    str(error).splitlines()[0])
    else:
        savepoint.commit()


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for statement in SQLITE_DOWNGRADE:
            connection.exec_driver_sql(statement)
        return
    connection.exec_driver_sql("DROP INDEX IF EXISTS ix_events_message_trgm")
    connection.exec_driver_sql("DROP INDEX IF EXISTS ix_events_title_trgm")
