"""What live streams read: pages of operations with what a reader needs to trust them (the
latest seq, the retention mark), the latest seq of workspaces, and which event-type codes a
workspace knows.

Retention (store/retention.py) leaves holes in a workspace's seqs: a page of operations is
dense except where operations were removed. Both page reads below say how to tell a hole
from an operation that has not committed yet.
"""

from __future__ import annotations

from typing import Any, Iterable

import sqlalchemy as sa

from eventgate.store.events import operations_after
from eventgate.store.retention import retention_mark
from eventgate.store.schema import event_types, operations, sequences

Operation = dict[str, Any]


def operations_to_fill(connection: sa.Connection, workspace_id: str, after_seq: int, limit: int
                       ) -> tuple[list[Operation], int]:
    """(operations after `after_seq`, the seq through which the store is complete).

    The latest seq is read before the operations: every seq up to it had committed by then, so
    a seq up to it that the page does not hold (below its last row, or anywhere when the page
    is not full) was removed by retention and never comes back."""
    latest = latest_seqs(connection, [workspace_id]).get(workspace_id, 0)
    page = operations_after(connection, workspace_id, after_seq, limit)
    if len(page) >= limit:
        return page, page[-1]["seq"]
    return page, max(latest, page[-1]["seq"] if page else 0)


def operations_to_replay(connection: sa.Connection, workspace_id: str, after_seq: int, limit: int
                         ) -> tuple[list[Operation], int]:
    """(operations after `after_seq`, the workspace's retention mark).

    The mark is read after the operations: when retention removed any operation the page would
    have held, the mark read later says so (it may also name a removal just after the page was
    read: a warning too many, never one too few)."""
    page = operations_after(connection, workspace_id, after_seq, limit)
    return page, retention_mark(connection, workspace_id)


def latest_seqs(connection: sa.Connection, workspace_ids: Iterable[str]) -> dict[str, int]:
    """The last committed seq of each workspace (absent: no such workspace)."""
    ids = list(workspace_ids)
    if not ids:
        return {}
    rows = connection.execute(
        sa.select(sequences.c.workspace_id, sequences.c.last_seq).where(sequences.c.workspace_id.in_(ids))
    )
    return {row.workspace_id: int(row.last_seq) for row in rows}


def seq_before(connection: sa.Connection, workspace_id: str, received_before: int) -> int:
    """The last seq of the workspace received before `received_before` (ms), 0 if none: where a
    stream that starts at a point in time resumes from (ntfy's `since=<time>`)."""
    found = connection.execute(sa.select(sa.func.max(operations.c.seq)).where(
        operations.c.workspace_id == workspace_id, operations.c.received_at < received_before)).scalar()
    return int(found or 0)


def last_seq_in_channels(connection: sa.Connection, workspace_id: str, channel_ids: Iterable[str]) -> int:
    """The seq of the last stored operation in these channels, 0 if none (ntfy's `since=latest`)."""
    found = connection.execute(sa.select(sa.func.max(operations.c.seq)).where(
        operations.c.workspace_id == workspace_id, operations.c.channel_id.in_(list(channel_ids)))).scalar()
    return int(found or 0)


def known_type_codes(connection: sa.Connection, workspace_id: str, codes: Iterable[str]) -> dict[str, str]:
    """Of `codes`, those registered in the workspace: lower-cased code → the code as registered."""
    keys = {code.lower() for code in codes}
    if not keys:
        return {}
    rows = connection.execute(
        sa.select(event_types.c.code_key, event_types.c.code)
        .where(event_types.c.workspace_id == workspace_id, event_types.c.code_key.in_(keys))
    )
    return {row.code_key: row.code for row in rows}
