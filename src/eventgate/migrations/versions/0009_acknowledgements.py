"""People act on events: who acknowledged an event, and when.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs on both databases: rebuilding events would drop its text-search triggers.
    op.add_column("events", sa.Column("acknowledged_at", sa.BigInteger, nullable=True))
    op.add_column("events", sa.Column("acknowledged_by", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "acknowledged_by")
    op.drop_column("events", "acknowledged_at")
