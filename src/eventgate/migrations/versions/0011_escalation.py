"""Escalation (SPEC §11): a destination's repeat and escalation schedule, and the durable timers.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs of nullable columns: no rebuild of destinations on SQLite.
    op.add_column("destinations", sa.Column("repeat_every_s", sa.Integer, nullable=True))
    op.add_column("destinations", sa.Column("escalate_after_s", sa.Integer, nullable=True))
    op.add_column("destinations", sa.Column("escalate_to", sa.String(26), nullable=True))
    op.create_table(
        "escalation_timers",
        sa.Column("destination_id", sa.String(26), sa.ForeignKey("destinations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("workspace_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("fired", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("destination_id", "event_id", "kind", name="pk_escalation_timers"),
    )
    op.create_index("ix_escalation_timers_due", "escalation_timers", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_escalation_timers_due", table_name="escalation_timers")
    op.drop_table("escalation_timers")
    with op.batch_alter_table("destinations") as batch:
        batch.drop_column("escalate_to")
        batch.drop_column("escalate_after_s")
        batch.drop_column("repeat_every_s")
