"""Two small tables for operating a server of several processes.

`password_failures`: wrong channel passwords per (channel, client address) in the current
window, shared by every process of every machine on the same database, so that the limit on
guesses is one limit and not one per process.

`retention_marks`: per workspace, the highest `seq` that retention (`--retention-days`) has
removed operations up to. A subscriber resuming from a `seq` at or below it is told that
operations may be missing instead of being silently skipped.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "password_failures",
        sa.Column("channel_id", sa.String(26), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("window_started_at", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "address", name="pk_password_failures"),
        sa.Index("ix_password_failures_window", "window_started_at"),
    )
    op.create_table(
        "retention_marks",
        sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("removed_through_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("removed_at", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("retention_marks")
    op.drop_table("password_failures")
