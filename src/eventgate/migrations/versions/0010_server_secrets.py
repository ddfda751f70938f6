"""The server's own secrets, made here once: `action_links` signs notifications' one-tap links.

Revision ID: 0010
Revises: 0009
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )
    op.bulk_insert(table, [{"name": "action_links", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("server_secrets")
