"""Keyed events: the intake key that names an event in its sender's words.

PagerDuty's dedup_key and Alertmanager's fingerprint (prefixed by the source) name an event
while it is ongoing; the writer finds the ongoing event of a key through this partial index.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: rebuilding events would drop its text-search triggers.
    op.add_column("events", sa.Column("intake_key", sa.String(300), nullable=True))
    op.create_index("ix_events_intake_key", "events", ["workspace_id", "intake_key"],
                    sqlite_where=sa.text("intake_key IS NOT NULL"),
                    postgresql_where=sa.text("intake_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_events_intake_key", table_name="events")
    op.drop_column("events", "intake_key")
