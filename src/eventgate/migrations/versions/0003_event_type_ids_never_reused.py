"""Event-type ids are never handed out twice on SQLite either.

Without AUTOINCREMENT, SQLite gives a new row the highest rowid + 1, so deleting the newest
type and registering another reused its id: a client still holding the old id would read,
change or delete the new type. PostgreSQL sequences never go back; nothing changes there.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("event_types", recreate="always",
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
