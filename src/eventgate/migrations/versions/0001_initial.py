"""Initial schema: workspaces, keys, channels, event types, events, timeline, idempotency.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sequences",
        sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("channel_ids", sa.Text, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "channels",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("password_changed_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_channels_workspace", "channels", ["workspace_id"])
    op.create_table(
        "event_types",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("code_key", sa.String(64), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False, server_default="1"),
        sa.Column("type", sa.String(8), nullable=False, server_default="CUSTOM"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("workspace_id", "code_key", name="uq_event_types_code"),
    )
    op.create_table(
        "events",
        sa.Column("pk", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("channel_id", sa.String(26), nullable=False),
        sa.Column("thing_id", sa.String(64), nullable=True),
        sa.Column("event_type_id", sa.BigInteger, nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("images", sa.Text, nullable=False),
        sa.Column("attrs", sa.Text, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("workspace_id", "id", name="uq_events_id"),
        # A deleted event's pk is never handed out again: its operations still point at it.
        sqlite_autoincrement=True,
    )
    for name, columns in (
        ("ix_events_workspace_pk", ["workspace_id", "pk"]),
        ("ix_events_state", ["workspace_id", "state", "pk"]),
        ("ix_events_severity", ["workspace_id", "severity", "pk"]),
        ("ix_events_channel", ["workspace_id", "channel_id", "pk"]),
        ("ix_events_thing", ["workspace_id", "thing_id", "pk"]),
        ("ix_events_type", ["workspace_id", "event_type_id", "pk"]),
        ("ix_events_created", ["workspace_id", "created_at"]),
    ):
        op.create_index(name, "events", columns)
    op.create_table(
        "event_tags",
        sa.Column("workspace_id", sa.String(32), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("event_pk", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "tag", "event_pk", name="pk_event_tags"),
    )
    op.create_index("ix_event_tags_event", "event_tags", ["event_pk"])
    op.create_table(
        "operations",
        sa.Column("workspace_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("event_pk", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("channel_id", sa.String(26), nullable=False),
        sa.Column("op_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("event_time", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "seq", name="pk_operations"),
    )
    op.create_index("ix_operations_event", "operations", ["event_pk", "seq"])
    op.create_table(
        "idempotency_records",
        sa.Column("channel_id", sa.String(26), nullable=False),
        sa.Column("op_id", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "op_id", name="pk_idempotency_records"),
    )
    op.create_index("ix_idempotency_created", "idempotency_records", ["created_at"])


def downgrade() -> None:
    for table in ("idempotency_records", "operations", "event_tags", "events", "event_types",
                  "channels", "api_keys", "sequences", "workspaces"):
        op.drop_table(table)
