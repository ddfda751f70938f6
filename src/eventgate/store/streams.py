"""What live streams read besides operations (store.events.operations_after): the latest seq of
workspaces, and which event-type codes a workspace knows."""

from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa

from eventgate.store.schema import event_types, sequences


def latest_seqs(connection: sa.Connection, workspace_ids: Iterable[str]) -> dict[str, int]:
    """The last committed seq of each workspace (absent: no such workspace)."""
    ids = list(workspace_ids)
    if not ids:
        return {}
    rows = connection.execute(
        sa.select(sequences.c.workspace_id, sequences.c.last_seq).where(sequences.c.workspace_id.in_(ids))
    )
    return {row.workspace_id: int(row.last_seq) for row in rows}


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
