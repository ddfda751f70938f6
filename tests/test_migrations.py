"""Migrations: the same schema on SQLite and PostgreSQL, matching store/schema.py, idempotent."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from eventgate.domain.lifecycle import SYSTEM_TYPE_CODES
from eventgate.store.database import current_revision, migrate
from eventgate.store.schema import event_types, include_in_schema_comparison, metadata, sequences, workspaces


def test_migrated_schema_matches_the_table_definitions(migrated_database):
    with migrated_database.reader.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_in_schema_comparison})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_migrating_twice_changes_nothing(migrated_database):
    before = current_revision(migrated_database)
    migrate(migrated_database)
    assert current_revision(migrated_database) == before


def test_fresh_database_has_the_default_workspace_with_system_types(migrated_database):
    with migrated_database.reader.connect() as connection:
        assert connection.execute(workspaces.select().where(workspaces.c.id == "default")).first() is not None
        assert connection.execute(sequences.select().where(sequences.c.workspace_id == "default")).first()
        codes = {row.code for row in connection.execute(
            event_types.select().where(event_types.c.workspace_id == "default", event_types.c.type == "SYSTEM"))}
    assert codes == set(SYSTEM_TYPE_CODES)
