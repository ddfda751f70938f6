"""The tables, as SQLAlchemy Core objects. Migrations create them; queries use these names.

Times are integer milliseconds since the Unix epoch. JSON values are stored as text
encoded by msgspec, which keeps SQLite and PostgreSQL identical.
"""

from __future__ import annotations

import sqlalchemy as sa

# BIGINT on PostgreSQL; INTEGER on SQLite so that it becomes the rowid alias.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

workspaces = sa.Table(
    "workspaces", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# One row per workspace, locked by every write transaction: it hands out `seq` in commit order.
sequences = sa.Table(
    "sequences", metadata,
    sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("channel_ids", sa.Text, nullable=True),
    sa.Column("expires_at", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)

channels = sa.Table(
    "channels", metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("password_changed_at", sa.BigInteger, nullable=False),
    sa.Index("ix_channels_workspace", "workspace_id"),
)

event_types = sa.Table(
    "event_types", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    # Lower-cased code: codes are unique per workspace case-insensitively.
    sa.Column("code_key", sa.String(64), nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("type", sa.String(8), nullable=False, server_default="CUSTOM"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("workspace_id", "code_key", name="uq_event_types_code"),
    # Ids are never reused, on SQLite too (migration 0003): a deleted type's id stays dead.
    sqlite_autoincrement=True,
)

events = sa.Table(
    "events", metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
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
    # The sender's name for the event (PagerDuty dedup_key, Alertmanager fingerprint; migration 0007).
    sa.Column("intake_key", sa.String(300), nullable=True),
    # Who acknowledged the event, and when (SPEC §11; migration 0009).
    sa.Column("acknowledged_at", sa.BigInteger, nullable=True),
    sa.Column("acknowledged_by", sa.String(128), nullable=True),
    sa.UniqueConstraint("workspace_id", "id", name="uq_events_id"),
    sa.Index("ix_events_workspace_pk", "workspace_id", "pk"),
    sa.Index("ix_events_state", "workspace_id", "state", "pk"),
    sa.Index("ix_events_severity", "workspace_id", "severity", "pk"),
    sa.Index("ix_events_channel", "workspace_id", "channel_id", "pk"),
    sa.Index("ix_events_thing", "workspace_id", "thing_id", "pk"),
    sa.Index("ix_events_type", "workspace_id", "event_type_id", "pk"),
    sa.Index("ix_events_created", "workspace_id", "created_at"),
    # Covers the overview's count of ongoing events by severity (migration 0004).
    sa.Index("ix_events_state_severity", "workspace_id", "state", "severity"),
    sa.Index("ix_events_intake_key", "workspace_id", "intake_key",
             sqlite_where=sa.text("intake_key IS NOT NULL"), postgresql_where=sa.text("intake_key IS NOT NULL")),
    # Never hand out a deleted event's pk again: operations of the old event point at it.
    sqlite_autoincrement=True,
)

# Word search over events (migration 0002). SQLite: this FTS5 table (unicode61 words of title
# and message; external content = events, rowid = events.pk, kept in step by triggers).
# PostgreSQL has no such table: a stored generated column events.search_words (tsvector of the
# same words) with a GIN index serves instead. Neither is in `metadata`: they are one dialect's.
events_text = sa.table("events_fts", sa.column("rowid", sa.BigInteger), sa.column("title"), sa.column("message"))
events_search_words = sa.literal_column("events.search_words")

TEXT_SEARCH_OBJECTS = frozenset({
    "events_fts", "events_fts_data", "events_fts_idx", "events_fts_docsize", "events_fts_config",
    "search_words", "ix_events_search_words",
})


def include_in_schema_comparison(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic `include_name` hook: everything but the dialect-specific text-search objects."""
    return name not in TEXT_SEARCH_OBJECTS


# Tags (seed 002 "topics") one row each, so that filtering by tag uses an index.
event_tags = sa.Table(
    "event_tags", metadata,
    sa.Column("workspace_id", sa.String(32), nullable=False),
    sa.Column("tag", sa.String(64), nullable=False),
    sa.Column("event_pk", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "tag", "event_pk", name="pk_event_tags"),
    sa.Index("ix_event_tags_event", "event_pk"),
)

# The timeline: every operation, forever (until retention), with the event as it was after it.
operations = sa.Table(
    "operations", metadata,
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
    sa.Index("ix_operations_event", "event_pk", "seq"),
)

idempotency_records = sa.Table(
    "idempotency_records", metadata,
    sa.Column("channel_id", sa.String(26), nullable=False),
    sa.Column("op_id", sa.String(128), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("channel_id", "op_id", name="pk_idempotency_records"),
    sa.Index("ix_idempotency_created", "created_at"),
)

# Wrong channel passwords per (channel, client address) in the current window, shared by
# every process (auth/passwords.py, service/channel_access.py).
password_failures = sa.Table(
    "password_failures", metadata,
    sa.Column("channel_id", sa.String(26), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("window_started_at", sa.BigInteger, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("channel_id", "address", name="pk_password_failures"),
    sa.Index("ix_password_failures_window", "window_started_at"),
)

# Per workspace, the highest seq retention removed operations up to (store/retention.py).
retention_marks = sa.Table(
    "retention_marks", metadata,
    sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("removed_through_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("removed_at", sa.BigInteger, nullable=False, server_default="0"),
)

# Channel tokens (SPEC §9): one secret bound to one channel, for the intake routes (ntfy, Gotify).
# Only the hash is stored; the integer id is what Gotify clients see as the application id.
channel_tokens = sa.Table(
    "channel_tokens", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel_id", sa.String(26), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.Index("ix_channel_tokens_channel", "channel_id"),
    # A revoked token's id is never handed out again.
    sqlite_autoincrement=True,
)

# Destinations (SPEC §10): where committed operations are delivered, each with its cursor over the
# operation log (the log is the outbox: every operation with seq <= cursor_seq has been handled,
# delivered or parked in delivery_queue) and the lease that makes one process its dispatcher.
destinations = sa.Table(
    "destinations", metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("workspace_id", sa.String(32), sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
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
    # Escalation (SPEC §11; migration 0011): remind every `repeat_every_s`, and once after
    # `escalate_after_s` notify the destination `escalate_to` (of the same workspace).
    sa.Column("repeat_every_s", sa.Integer, nullable=True),
    sa.Column("escalate_after_s", sa.Integer, nullable=True),
    sa.Column("escalate_to", sa.String(26), nullable=True),
    sa.Index("ix_destinations_workspace", "workspace_id"),
)

# Durable escalation timers (SPEC §11): one row per destination, event and kind (`repeat` or
# `escalate`), armed when the destination's dispatcher handles the event's creation, fired by
# whichever process claims it first (a compare-and-set on `due_at`), removed once the event is
# acknowledged, closed or gone.
escalation_timers = sa.Table(
    "escalation_timers", metadata,
    sa.Column("destination_id", sa.String(26), sa.ForeignKey("destinations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.String(128), nullable=False),
    sa.Column("workspace_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("due_at", sa.BigInteger, nullable=False),
    sa.Column("fired", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("destination_id", "event_id", "kind", name="pk_escalation_timers"),
    sa.Index("ix_escalation_timers_due", "due_at"),
)

# Operations a destination still owes: failed attempts waiting for their retry, and later
# operations of the same event waiting behind them (a destination gets one event's operations
# in seq order).
delivery_queue = sa.Table(
    "delivery_queue", metadata,
    sa.Column("destination_id", sa.String(26), sa.ForeignKey("destinations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.String(128), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("destination_id", "seq", name="pk_delivery_queue"),
)

# Every delivery attempt: what was sent where and what came back.
delivery_attempts = sa.Table(
    "delivery_attempts", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("destination_id", sa.String(26), sa.ForeignKey("destinations.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=True),  # None: a test message
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

# Secrets of the server itself, made once by a migration so that every process and machine of a
# deployment shares them: `action_links` signs the one-tap links of notifications (migration 0010).
server_secrets = sa.Table(
    "server_secrets", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)
