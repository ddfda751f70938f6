"""Destinations (SPEC §10): webhook and Apprise targets, their queue of owed deliveries and
the record of every attempt.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("filter", sa.Text, nullable=False),
        sa.Column("secret", sa.String(128), nullable=True),
        sa.Column("cursor_seq", sa.BigInteger, nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
        sa.Column("failing_since", sa.BigInteger, nullable=True),
        sa.Column("disabled_reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Index("ix_destinations_workspace", "workspace_id"),
    )
    op.create_table(
        "delivery_queue",
        sa.Column("destination_id", sa.String(26), sa.ForeignKey("destinations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("destination_id", "seq", name="pk_delivery_queue"),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("destination_id", sa.String(26), sa.ForeignKey("destinations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=True),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("webhook_id", sa.String(80), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("response_excerpt", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Index("ix_delivery_attempts_destination", "destination_id", "id"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_table("delivery_queue")
    op.drop_table("destinations")
