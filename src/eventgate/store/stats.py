"""The counts behind the dashboard's overview: events per hour by severity, and ongoing now.

Both are aggregate queries over `events` (deleted events are gone from it, so they are not
counted). Hours are whole UTC hours; the last bucket is the current, still-running hour.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from eventgate.domain.fields import SEVERITIES
from eventgate.store.schema import events

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Overview:
    """`hours[i]` counts events created in [first_hour_ms + i hours, + 1 hour), by severity."""

    first_hour_ms: int
    hours: list[dict[str, int]]
    ongoing: dict[str, int]


def _zeros() -> dict[str, int]:
    return {severity: 0 for severity in SEVERITIES}


def _scope(workspace_id: str, channel_ids: tuple[str, ...] | None) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [events.c.workspace_id == workspace_id]
    if channel_ids is not None:
        conditions.append(events.c.channel_id.in_(channel_ids))
    return conditions


def overview(connection: sa.Connection, workspace_id: str, *, now_ms: int, hours: int = 24,
             channel_ids: tuple[str, ...] | None = None) -> Overview:
    """Counts for one workspace (and, for a channel-restricted key, only its channels)."""
    first_hour_ms = (now_ms // HOUR_MS - (hours - 1)) * HOUR_MS
    end_ms = first_hour_ms + hours * HOUR_MS
    bucket = ((events.c.created_at - first_hour_ms) // HOUR_MS).label("bucket")
    per_hour = connection.execute(
        sa.select(bucket, events.c.severity, sa.func.count().label("n"))
        .where(*_scope(workspace_id, channel_ids),
               events.c.created_at >= first_hour_ms, events.c.created_at < end_ms)
        .group_by(bucket, events.c.severity)
    )
    counts = [_zeros() for _ in range(hours)]
    for row in per_hour:
        index = int(row.bucket)
        if 0 <= index < hours and row.severity in counts[index]:
            counts[index][row.severity] += int(row.n)

    ongoing = _zeros()
    per_severity = connection.execute(
        sa.select(events.c.severity, sa.func.count().label("n"))
        .where(*_scope(workspace_id, channel_ids), events.c.state == "ongoing")
        .group_by(events.c.severity)
    )
    for row in per_severity:
        if row.severity in ongoing:
            ongoing[row.severity] += int(row.n)
    return Overview(first_hour_ms, counts, ongoing)
