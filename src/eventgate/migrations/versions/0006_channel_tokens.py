"""Channel tokens: one secret bound to one channel, for the intake routes (ntfy, Gotify).

Only a SHA-256 hash of each token is stored (tokens carry about 165 random bits). Ids are
integers that are never reused (AUTOINCREMENT on SQLite): Gotify clients see the id as the
application id of their messages.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "channel_tokens",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("channel_id", sa.String(26), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Index("ix_channel_tokens_channel", "channel_id"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("channel_tokens")
