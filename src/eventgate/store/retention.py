"""Retention (`serve --retention-days N`): removing closed events whose closing is older than N
days, with everything that hangs off them, and keeping each workspace's retention mark.

What goes, per event: its row (the SQLite word index follows by trigger; PostgreSQL's search
words are a column of the row), its tags (`event_tags`) and its whole timeline (`operations`).
An event deleted (DELETE) more than N days ago has no row or tags left, but its timeline
stays behind it: that goes too, found through its `delete` operation.
Idempotency records are left to their own sweep (store/maintenance.py): a retried request
whose event is gone is answered from its record as before, or 404 where the answer must
show the event.

A closed event cannot change any more (only be deleted), so its `updated_at` is the time it
was closed. Candidates are found with plain reads, outside any lock; each batch is then one
short write transaction that checks the condition again. On SQLite it holds the cross-process
write lock (store/write_lock.py) like any other writer; on PostgreSQL it locks the workspace's
`sequences` row first, as every writer of the workspace does, so the batch and the writers
take turns and the mark is exact.

The mark (`retention_marks.removed_through_seq`) is the highest seq of an operation retention
removed in the workspace. It only grows (max of old and new), so processes and machines
running retention at the same time are safe: the second delete of a row finds nothing.
Live subscribers resuming from below the mark are told so (hub/hub.py, a `gap` frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from eventgate.domain.times import now_ms
from eventgate.store.database import Database
from eventgate.store.schema import event_tags, events, operations, retention_marks, sequences, workspaces
from eventgate.store.write_lock import WriteLock

# Events per write transaction: small enough that the writers never wait long for it.
RETENTION_BATCH = 500


@dataclass
class RetentionResult:
    """What one round removed."""

    events: int = 0
    # Events deleted long ago (DELETE) whose timelines went.
    deleted_timelines: int = 0
    operations: int = 0
    tags: int = 0
    # Write transactions taken (one per batch of candidates).
    transactions: int = 0
    # Workspace → its mark after the round, for the workspaces where something was removed.
    marks: dict[str, int] = field(default_factory=dict)


def retention_mark(connection: sa.Connection, workspace_id: str) -> int:
    """The highest seq retention removed in the workspace (0: nothing removed)."""
    mark = connection.execute(
        sa.select(retention_marks.c.removed_through_seq).where(retention_marks.c.workspace_id == workspace_id)
    ).scalar()
    return int(mark or 0)


def remove_expired_events(database: Database, *, older_than_ms: int, now: int | None = None,
                          batch_size: int = RETENTION_BATCH,
                          should_stop: Callable[[], bool] = lambda: False,
                          workspace_ids: Iterable[str] | None = None,
                          deletions_scanned: dict[str, int] | None = None) -> RetentionResult:
    """Remove every event closed more than `older_than_ms` before `now` (default: the clock),
    and the timelines of events deleted that long ago, `batch_size` events per transaction, in
    every workspace (or those named). Stops early (between batches) once should_stop().

    `deletions_scanned` (workspace → seq) remembers how far earlier rounds looked for deleted
    events, so that each operation is looked at once; without it the search starts at seq 0."""
    cutoff = (now_ms() if now is None else now) - older_than_ms
    result = RetentionResult()
    lock = WriteLock.for_database(database)
    try:
        if workspace_ids is None:
            with database.reader.connect() as connection:
                workspace_ids = list(connection.execute(sa.select(workspaces.c.id).order_by(workspaces.c.id))
                                     .scalars())
        scanned = {} if deletions_scanned is None else deletions_scanned
        for workspace_id in workspace_ids:
            after_pk = 0
            while not should_stop():
                candidates = _candidates(database, workspace_id, cutoff, after_pk, batch_size)
                if not candidates:
                    break
                after_pk = candidates[-1]
                with lock, database.reader.begin() as connection:
                    _remove_batch(connection, database.is_sqlite, workspace_id, candidates,
                                  _still_expired(workspace_id, cutoff), result)
                result.transactions += 1
                if len(candidates) < batch_size:
                    break
            while not should_stop():
                deleted, scanned_to, finished = _deleted_candidates(database, workspace_id, cutoff,
                                                                    scanned.get(workspace_id, 0), batch_size)
                if deleted:
                    with lock, database.reader.begin() as connection:
                        _remove_batch(connection, database.is_sqlite, workspace_id, deleted, _still_deleted, result)
                    result.transactions += 1
                scanned[workspace_id] = scanned_to
                if finished:
                    break
    finally:
        lock.close()
    return result


def _expired(cutoff: int) -> sa.ColumnElement[bool]:
    return sa.and_(events.c.state == "closed", events.c.updated_at < cutoff)


def _candidates(database: Database, workspace_id: str, cutoff: int, after_pk: int, limit: int) -> list[int]:
    """The next pks (in order, after `after_pk`) of expired events: a read, no lock."""
    with database.reader.connect() as connection:
        return list(connection.execute(
            sa.select(events.c.pk)
            .where(events.c.workspace_id == workspace_id, events.c.pk > after_pk, _expired(cutoff))
            .order_by(events.c.pk)
            .limit(limit)
        ).scalars())


# How many operations one read looks at while searching for deletions.
DELETION_SCAN_PAGE = 5_000
Confirm = Callable[[list[sa.Row], list[int]], list[int]]


def _deleted_candidates(database: Database, workspace_id: str, cutoff: int, after_seq: int, limit: int
                        ) -> tuple[list[int], int, bool]:
    """Pks of events deleted before `cutoff`, from their `delete` operations after `after_seq`
    (at most `limit`): (pks, the seq looked at up to, whether the search reached the cutoff or
    the end). Operations are read in seq order, which is the order they were received in, so
    the search stops at the first one received after the cutoff: the next round goes on from
    there. A read, no lock."""
    with database.reader.connect() as connection:
        rows = connection.execute(
            sa.select(operations.c.seq, operations.c.event_pk, operations.c.kind, operations.c.received_at)
            .where(operations.c.workspace_id == workspace_id, operations.c.seq > after_seq)
            .order_by(operations.c.seq)
            .limit(DELETION_SCAN_PAGE)
        ).all()
    pks: list[int] = []
    for row in rows:
        if row.received_at >= cutoff:
            return pks, after_seq, True
        if row.kind == "delete":
            pks.append(row.event_pk)
        after_seq = row.seq
        if len(pks) >= limit:
            return pks, after_seq, False
    return pks, after_seq, len(rows) < DELETION_SCAN_PAGE


def _still_expired(workspace_id: str, cutoff: int) -> Confirm:
    def confirm(rows: list[sa.Row], pks: list[int]) -> list[int]:
        return [row.pk for row in rows
                if row.workspace_id == workspace_id and row.state == "closed" and row.updated_at < cutoff]
    return confirm


def _still_deleted(rows: list[sa.Row], pks: list[int]) -> list[int]:
    # A deleted event has no row; its pk is never given to another event.
    present = {row.pk for row in rows}
    return [pk for pk in pks if pk not in present]


def _remove_batch(connection: sa.Connection, is_sqlite: bool, workspace_id: str, pks: list[int],
                  confirm: Confirm, result: RetentionResult) -> None:
    if not is_sqlite:
        # Every writer of the workspace locks this row first: take turns with them.
        connection.execute(sa.select(sequences.c.last_seq).where(sequences.c.workspace_id == workspace_id)
                           .with_for_update())
    # A write first: on SQLite this deferred transaction then holds the write lock from its
    # start, instead of having to turn a read snapshot into a write later.
    _ensure_mark(connection, is_sqlite, workspace_id)
    # Checked again now that no writer of the workspace runs: the event may have gone (deleted)
    # since it was found. Only the primary key in the WHERE, and the rest checked here, so
    # that every statement below is a handful of index probes whatever the planner believes.
    rows = connection.execute(sa.select(events.c.pk, events.c.workspace_id, events.c.state, events.c.updated_at)
                              .where(events.c.pk.in_(pks))).all()
    doomed = sorted(set(confirm(rows, pks)))
    if not doomed:
        return
    # Tags before the event, as the writer deletes them.
    result.tags += connection.execute(sa.delete(event_tags).where(event_tags.c.event_pk.in_(doomed))).rowcount
    removed_seqs = list(connection.execute(
        sa.delete(operations).where(operations.c.event_pk.in_(doomed)).returning(operations.c.seq)).scalars())
    result.events += connection.execute(sa.delete(events).where(events.c.pk.in_(doomed))).rowcount
    if confirm is _still_deleted:
        result.deleted_timelines += len(doomed)
    result.operations += len(removed_seqs)
    if removed_seqs:
        result.marks[workspace_id] = raise_mark(connection, is_sqlite, workspace_id, max(removed_seqs))


def _insert(is_sqlite: bool):  # type: ignore[no-untyped-def]
    """INSERT with ON CONFLICT, which both dialects spell the same way."""
    return sqlite.insert if is_sqlite else postgresql.insert


def _ensure_mark(connection: sa.Connection, is_sqlite: bool, workspace_id: str) -> None:
    connection.execute(_insert(is_sqlite)(retention_marks)
                       .values(workspace_id=workspace_id, removed_through_seq=0, removed_at=0)
                       .on_conflict_do_nothing())


def raise_mark(connection: sa.Connection, is_sqlite: bool, workspace_id: str, seq: int) -> int:
    """Raise the workspace's mark to `seq` unless it is already higher; returns the mark."""
    statement = (_insert(is_sqlite)(retention_marks)
                 .values(workspace_id=workspace_id, removed_through_seq=seq, removed_at=now_ms()))
    current = retention_marks.c.removed_through_seq
    statement = statement.on_conflict_do_update(
        index_elements=[retention_marks.c.workspace_id],
        set_={"removed_through_seq": sa.case((statement.excluded.removed_through_seq > current,
                                              statement.excluded.removed_through_seq), else_=current),
              "removed_at": statement.excluded.removed_at},
    ).returning(retention_marks.c.removed_through_seq)
    return int(connection.execute(statement).scalar_one())
