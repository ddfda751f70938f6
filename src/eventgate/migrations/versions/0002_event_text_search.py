"""Word search for `GET /events?q=`: an index of the words of every event's title and message.

A word is a run of letters and digits; case is ignored. SQLite: an FTS5 table with the
unicode61 tokenizer (diacritics kept, as PostgreSQL keeps them) over events(title, message),
external content, kept in step by triggers. PostgreSQL: a stored generated tsvector of the
same words ('simple' configuration: no stemming, no stop words) with a GIN index.

Why words and not substrings: a substring index (FTS5 trigram, pg_trgm) was built first and
measured on 1,000,000 events. It cost the SQLite writer ~2.5x the CPU of a word index per
write, and on PostgreSQL a substring of middling frequency took ~70 ms, because a trigram
GIN scan must fetch and re-check every candidate before ordering; docs/design.md "Text search".

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_UPGRADE = (
    "CREATE VIRTUAL TABLE events_fts USING fts5("
    "title, message, content='events', content_rowid='pk', tokenize='unicode61 remove_diacritics 0')",
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

# Every run of non-alphanumerics becomes a space first, so that PostgreSQL's parser sees the
# same words FTS5's unicode61 does (it would otherwise keep e-mail addresses, URLs and
# hyphenated words whole).
POSTGRES_UPGRADE = (
    "ALTER TABLE events ADD COLUMN search_words tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, "
    "regexp_replace(title || ' ' || message, '[^[:alnum:]]+', ' ', 'g'))) STORED",
    "CREATE INDEX ix_events_search_words ON events USING gin (search_words)",
)


def upgrade() -> None:
    connection = op.get_bind()
    statements = SQLITE_UPGRADE if connection.dialect.name == "sqlite" else POSTGRES_UPGRADE
    for statement in statements:
        connection.exec_driver_sql(statement)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for statement in SQLITE_DOWNGRADE:
            connection.exec_driver_sql(statement)
        return
    connection.exec_driver_sql("DROP INDEX IF EXISTS ix_events_search_words")
    connection.exec_driver_sql("ALTER TABLE events DROP COLUMN IF EXISTS search_words")
