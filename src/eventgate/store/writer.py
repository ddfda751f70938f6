"""Group commit: every event write goes through one writer thread, many requests per transaction.

Why: a durable commit costs an fsync (SQLite) or a WAL flush (PostgreSQL). Requests that
arrive while one transaction commits are gathered into the next, so durability costs one
flush per batch instead of one per request.

Each transaction first locks the `sequences` row of every workspace it touches, then reads,
decides and writes. Holding that lock until commit is what makes `seq` increase in commit
order across processes: nobody can take seq n+1 before the holder of n has committed.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from eventgate import ids
from eventgate.domain.errors import DomainError, bad_request, conflict, not_found
from eventgate.domain.lifecycle import (
    SYSTEM_TYPE_OF_KIND,
    LifecycleCommand,
    apply_operation,
    new_event,
    operation_fields,
)
from eventgate.domain.times import now_ms
from eventgate.metrics import operations_committed, write_batch_seconds, write_batch_size
from eventgate.store import codec
from eventgate.store.database import Database
from eventgate.store.events import event_to_row, public_event, row_to_event
from eventgate.store.schema import events, idempotency_records, operations

log = logging.getLogger("eventgate.writer")

MAX_BATCH = 512
RETRIES = 3


class CredentialsChanged(DomainError):
    """The channel's password changed after the caller verified it; verify again."""

    def __init__(self) -> None:
        super().__init__(403, "password_mismatch", "the channel password has changed")


@dataclass(slots=True)
class WriteRequest:
    command: LifecycleCommand
    workspace_id: str
    # The password hash the caller verified against, or None when an API key authorised it.
    verified_password_hash: str | None
    received_at: int
    future: asyncio.Future | None = None


@dataclass(slots=True)
class CommittedOperation:
    """An operation as it was committed: what subscribers are told."""

    workspace_id: str
    seq: int
    kind: str
    op_id: str
    event_id: str
    channel_id: str
    event_time: int
    received_at: int
    fields: dict[str, Any]
    event: dict[str, Any]

    @property
    def system_type(self) -> str:
        return SYSTEM_TYPE_OF_KIND[self.kind]


@dataclass(slots=True)
class WriteOutcome:
    response: dict[str, Any]
    replayed: bool
    operation: CommittedOperation | None = None


@dataclass(slots=True)
class _EventSlot:
    """An event as the batch sees it: loaded or created, and what must be written back."""

    event: dict[str, Any]
    is_new: bool = False
    dirty: bool = False
    deleted: bool = False
    original_tags: list[str] = field(default_factory=list)


@dataclass
class WriterSettings:
    strict_event_types: bool = False
    idempotency_retention_ms: int = 7 * 24 * 3600 * 1000


class EventWriter:
    """Owns the writer thread. `submit` is called from the event loop."""

    def __init__(
        self,
        database: Database,
        settings: WriterSettings | None = None,
        on_commit: Callable[[list[CommittedOperation]], None] | None = None,
    ) -> None:
        self.database = database
        self.settings = settings or WriterSettings()
        self.on_commit = on_commit
        self._queue: queue.SimpleQueue[WriteRequest | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._statements = WriterStatements(is_postgres=not database.is_sqlite)
        # The writer talks to the driver directly (see WriterStatements), so driver errors arrive unwrapped.
        self._database_errors: tuple[type[BaseException], ...] = (
            DBAPIError, database.writer.dialect.loaded_dbapi.Error)
        self._last_sweep = time.monotonic()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="eventgate-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    async def submit(self, command: LifecycleCommand, *, workspace_id: str,
                     verified_password_hash: str | None) -> WriteOutcome:
        assert self._loop is not None, "writer not started"
        future = self._loop.create_future()
        self._queue.put(WriteRequest(command, workspace_id, verified_password_hash, now_ms(), future))
        return await future

    # -- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop_after = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop_after = True
                    break
                batch.append(item)
            try:
                results = self._commit(batch)
            except Exception:  # a bug must fail these requests, never kill the writer thread
                log.exception("write batch of %d failed unexpectedly", len(batch))
                results = [DomainError(500, "internal_error", "the write failed unexpectedly; it has been logged")
                           for _ in batch]
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._deliver, batch, results)
            except RuntimeError:  # loop closed during shutdown
                pass
            self._maybe_sweep()
            if stop_after:
                return

    def _deliver(self, batch: list[WriteRequest], results: list[WriteOutcome | BaseException]) -> None:
        committed: list[CommittedOperation] = []
        for request, result in zip(batch, results):
            if isinstance(result, WriteOutcome) and result.operation is not None:
                committed.append(result.operation)
            future = request.future
            if future is None or future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if committed and self.on_commit is not None:
            try:
                self.on_commit(committed)
            except Exception:  # a subscriber problem must never fail a producer
                log.exception("publishing committed operations failed")

    def _commit(self, batch: list[WriteRequest]) -> list[WriteOutcome | BaseException]:
        for attempt in range(RETRIES):
            started = time.perf_counter()
            try:
                with self.database.writer.begin() as connection:
                    cursor = connection.connection.cursor()
                    try:
                        results = _Batch(cursor, batch, self.settings, self._statements).apply()
                    finally:
                        cursor.close()
            except self._database_errors as error:
                log.warning("write batch of %d failed (attempt %d): %s", len(batch), attempt + 1, error)
                if len(batch) > 1:
                    # Isolate the request that breaks the batch; the others still commit.
                    return [result for request in batch for result in self._commit([request])]
                time.sleep(0.01 * (attempt + 1))
                continue
            write_batch_seconds.observe(time.perf_counter() - started)
            write_batch_size.observe(len(batch))
            committed: dict[str, int] = {}
            for result in results:
                if isinstance(result, WriteOutcome) and result.operation is not None:
                    committed[result.operation.kind] = committed.get(result.operation.kind, 0) + 1
            for kind, count in committed.items():
                operations_committed.labels(kind).inc(count)
            return results
        return [DomainError(503, "store_unavailable", "the event store could not commit; retry")]

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep < 600:
            return
        self._last_sweep = time.monotonic()
        cutoff = now_ms() - self.settings.idempotency_retention_ms
        try:
            with self.database.writer.begin() as connection:
                connection.execute(sa.delete(idempotency_records).where(idempotency_records.c.created_at < cutoff))
        except DBAPIError:
            log.exception("sweeping idempotency records failed")


def _quoted(name: str) -> str:
    return f'"{name}"'


def _columns(table: sa.Table, prefix: str = "") -> str:
    return ", ".join(prefix + _quoted(c.name) for c in table.columns)


class WriterStatements:
    """The writer's SQL as driver text, built once from store/schema.py.

    The writer runs a dozen statements per batch with hundreds of rows between them; going
    through the driver's cursor (executemany in C for SQLite, pipelined for psycopg) instead of
    SQLAlchemy's per-row parameter processing cuts the writer's CPU per operation several-fold.
    """

    def __init__(self, is_postgres: bool) -> None:
        self.placeholder = "%s" if is_postgres else "?"
        self.is_postgres = is_postgres
        self.lock_sequence = self.sql(
            "SELECT last_seq FROM sequences WHERE workspace_id = ?" + (" FOR UPDATE" if is_postgres else ""))
        self.update_sequence = self.sql("UPDATE sequences SET last_seq = ? WHERE workspace_id = ?")
        self.event_columns = [c.name for c in events.columns]
        self._select_events = (
            f"SELECT {_columns(events, 'e.')}, t.code FROM events e "
            "LEFT JOIN event_types t ON t.id = e.event_type_id WHERE e.workspace_id = ? AND e.id IN ({})"
        )
        self.insert_tag = self.sql('INSERT INTO event_tags (workspace_id, tag, event_pk) VALUES (?, ?, ?)')
        self.insert_type = self.sql(
            "INSERT INTO event_types (workspace_id, name, code, code_key, status, type, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 1, 'CUSTOM', ?, ?) RETURNING id")
        self.operation_columns = [c.name for c in operations.columns]
        self.insert_operation = self._insert(operations)
        self.idempotency_columns = [c.name for c in idempotency_records.columns]
        self.insert_idempotency = self._insert(idempotency_records)
        self._inserts: dict[tuple[tuple[str, ...], int], str] = {}
        self._updates: dict[tuple[str, ...], str] = {}

    def sql(self, text: str) -> str:
        return text.replace("?", self.placeholder) if self.is_postgres else text

    def _insert(self, table: sa.Table) -> str:
        marks = ", ".join("?" for _ in table.columns)
        return self.sql(f"INSERT INTO {table.name} ({_columns(table)}) VALUES ({marks})")

    def marks(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)

    def select_channels(self, count: int) -> str:
        return self.sql("SELECT id, workspace_id, password_hash FROM channels WHERE id IN ({})").format(
            self.marks(count))

    def select_idempotency(self, count: int) -> str:
        # One channel per statement: the primary key (channel_id, op_id) then serves every lookup.
        return self.sql("SELECT op_id, request_hash, response FROM idempotency_records "
                        "WHERE channel_id = ? AND op_id IN ({})").format(self.marks(count))

    def select_events(self, count: int) -> str:
        return self.sql(self._select_events).format(self.marks(count))

    def select_types(self, count: int) -> str:
        return self.sql("SELECT id, code, code_key, status, type FROM event_types "
                        "WHERE workspace_id = ? AND code_key IN ({})").format(self.marks(count))

    def insert_events(self, columns: tuple[str, ...], rows: int) -> str:
        """A multi-row INSERT returning each row's pk with its (workspace_id, id) to match them up."""
        key = (columns, rows)
        text = self._inserts.get(key)
        if text is None:
            row = "(" + ", ".join([self.placeholder] * len(columns)) + ")"
            text = (f"INSERT INTO events ({', '.join(map(_quoted, columns))}) VALUES "
                    + ", ".join([row] * rows) + " RETURNING pk, workspace_id, id")
            if len(self._inserts) > 64:
                self._inserts.clear()
            self._inserts[key] = text
        return text

    def update_event(self, columns: tuple[str, ...]) -> str:
        text = self._updates.get(columns)
        if text is None:
            assignments = ", ".join(f"{_quoted(name)} = ?" for name in columns)
            text = self._updates[columns] = self.sql(f"UPDATE events SET {assignments} WHERE pk = ?")
        return text

    def delete_tags(self, count: int) -> str:
        return self.sql("DELETE FROM event_tags WHERE event_pk IN ({})").format(self.marks(count))

    def delete_events(self, count: int) -> str:
        return self.sql("DELETE FROM events WHERE pk IN ({})").format(self.marks(count))


# Columns an operation never changes: left out of UPDATE so that their indexes are not rewritten.
IMMUTABLE_EVENT_COLUMNS = frozenset({"workspace_id", "id", "channel_id", "created_at"})
INSERT_CHUNK = 200  # rows per multi-row INSERT: far below SQLite's and PostgreSQL's parameter limits


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _values(columns: list[str], row: dict[str, Any]) -> tuple[Any, ...]:
    """A row dict as a tuple in table column order (a missing column is a schema/writer mismatch)."""
    return tuple(row[name] for name in columns)


class _RowMapping:
    """Lets store/events.py's row_to_event (the one row → event mapping) read a driver tuple."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping


class _Batch:
    """One transaction's worth of requests: load what they touch, decide each, write once."""

    def __init__(self, cursor: Any, requests: list[WriteRequest], settings: WriterSettings,
                 statements: WriterStatements) -> None:
        self.cursor = cursor
        self.requests = requests
        self.settings = settings
        self.sql = statements
        self.last_seq: dict[str, int] = {}
        self.channels: dict[str, tuple[str, str]] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self.new_idempotency: list[tuple[Any, ...]] = []
        self.slots: dict[tuple[str, str], _EventSlot] = {}
        # (workspace_id, code_key) → (type id, code, status, "CUSTOM" | "SYSTEM")
        self.types: dict[tuple[str, str], tuple[int, str, int, str]] = {}
        self.operations: list[tuple[CommittedOperation, _EventSlot]] = []

    # loading ----------------------------------------------------------------------------

    def _lock_sequences(self) -> None:
        cursor = self.cursor
        for workspace_id in sorted({r.workspace_id for r in self.requests}):
            cursor.execute(self.sql.lock_sequence, (workspace_id,))
            row = cursor.fetchone()
            if row is None:
                raise RuntimeError(f"workspace {workspace_id} has no sequences row")
            self.last_seq[workspace_id] = row[0]

    def _load(self) -> None:
        cursor, sql = self.cursor, self.sql
        channel_ids = list({r.command.channel_id for r in self.requests if r.command.channel_id})
        if channel_ids:
            cursor.execute(sql.select_channels(len(channel_ids)), channel_ids)
            for channel_id, workspace_id, password_hash in cursor.fetchall():
                self.channels[channel_id] = (workspace_id, password_hash)
        op_ids: dict[str, set[str]] = {}
        for request in self.requests:
            if request.command.channel_id:
                op_ids.setdefault(request.command.channel_id, set()).add(request.command.op_id)
        for channel_id, wanted in op_ids.items():
            cursor.execute(sql.select_idempotency(len(wanted)), (channel_id, *wanted))
            for op_id, request_hash, response in cursor.fetchall():
                self.idempotency[(channel_id, op_id)] = (request_hash, codec.load(response))
        by_workspace: dict[str, set[str]] = {}
        for request in self.requests:
            if request.command.event_id:
                by_workspace.setdefault(request.workspace_id, set()).add(request.command.event_id)
        names = (*sql.event_columns, "event_type")
        for workspace_id, event_ids in by_workspace.items():
            cursor.execute(sql.select_events(len(event_ids)), (workspace_id, *event_ids))
            for row in cursor.fetchall():
                event = row_to_event(_RowMapping(dict(zip(names, row))))  # type: ignore[arg-type]
                self.slots[(workspace_id, event["id"])] = _EventSlot(event, original_tags=list(event["tags"]))
        codes: dict[str, set[str]] = {}
        for request in self.requests:
            if request.command.event_type:
                codes.setdefault(request.workspace_id, set()).add(request.command.event_type.lower())
        for workspace_id, code_keys in codes.items():
            cursor.execute(sql.select_types(len(code_keys)), (workspace_id, *code_keys))
            for type_id, code, code_key, status, type_kind in cursor.fetchall():
                self.types[(workspace_id, code_key)] = (type_id, code, status, type_kind)

    # deciding ---------------------------------------------------------------------------

    def _resolve_type(self, workspace_id: str, code: str) -> tuple[int, str]:
        key = (workspace_id, code.lower())
        found = self.types.get(key)
        if found is None:
            if self.settings.strict_event_types:
                raise bad_request("unknown_event_type", f"event type {code!r} is not registered", "event_type")
            now = now_ms()
            self.cursor.execute(self.sql.insert_type, (workspace_id, code, code, code.lower(), now, now))
            type_id = self.cursor.fetchone()[0]
            found = (type_id, code, 1, "CUSTOM")
            self.types[key] = found
        type_id, stored_code, status, kind = found
        if kind == "SYSTEM":
            # SYSTEM codes name operations (event_created …), not what happened; an event cannot be one.
            raise bad_request("event_type_reserved",
                              f"event_type {stored_code!r} is a SYSTEM event type; use a CUSTOM code", "event_type")
        if status != 1:
            raise conflict("event_type_inactive", f"event type {stored_code!r} is inactive")
        return type_id, stored_code

    def _decide(self, request: WriteRequest) -> WriteOutcome:
        command = request.command
        workspace_id = request.workspace_id
        if request.verified_password_hash is not None:
            channel = self.channels.get(command.channel_id)
            if channel is None or channel[0] != workspace_id:
                raise not_found("channel_not_found", f"channel {command.channel_id} does not exist")
            if channel[1] != request.verified_password_hash:
                raise CredentialsChanged()
        idempotency_key = (command.channel_id, command.op_id) if command.channel_id else None
        if idempotency_key is not None:
            recorded = self.idempotency.get(idempotency_key)
            if recorded is not None:
                if recorded[0] != command.request_hash:
                    raise conflict("idempotency_conflict",
                                   f"op_id {command.op_id!r} was already used with a different request")
                return WriteOutcome(response=recorded[1], replayed=True)

        type_id: int | None = None
        type_code: str | None = None
        if command.event_type:
            type_id, type_code = self._resolve_type(workspace_id, command.event_type)
            command.event_type = type_code

        if command.kind == "create":
            event_id = command.event_id or ids.new_event_id()
            existing = self.slots.get((workspace_id, event_id))
            if existing is not None:  # a delete earlier in this same batch still counts as existing
                raise conflict("event_exists", f"event {event_id} already exists")
            event = new_event(command, workspace_id=workspace_id, event_id=event_id,
                              received_at=request.received_at)
            event["event_type_id"] = type_id
            event["pk"] = None
            slot = _EventSlot(event, is_new=True)
            self.slots[(workspace_id, event_id)] = slot
        else:
            slot = self.slots.get((workspace_id, command.event_id or ""))
            if slot is None or slot.deleted or (command.channel_id and slot.event["channel_id"] != command.channel_id):
                raise not_found("event_not_found", f"event {command.event_id} does not exist")
            if command.kind == "delete":
                slot.event = dict(slot.event, state="deleted", updated_at=request.received_at)
                slot.deleted = True
            else:
                slot.event = apply_operation(slot.event, command, received_at=request.received_at)
                if type_id is not None:
                    slot.event["event_type_id"] = type_id
            slot.dirty = True

        seq = self.last_seq[workspace_id] + 1
        self.last_seq[workspace_id] = seq
        slot.event["seq"] = seq
        event = slot.event
        operation = CommittedOperation(
            workspace_id=workspace_id, seq=seq, kind=command.kind, op_id=command.op_id,
            event_id=event["id"], channel_id=event["channel_id"], event_time=command.event_time,
            received_at=request.received_at, fields=operation_fields(command), event=public_event(event),
        )
        self.operations.append((operation, slot))
        response = {"channel_id": event["channel_id"], "op_id": command.op_id, "event_id": event["id"],
                    "thing_id": event["thing_id"], "accepted": True}
        if idempotency_key is not None and command.request_hash:
            self.idempotency[idempotency_key] = (command.request_hash, response)
            self.new_idempotency.append(_values(self.sql.idempotency_columns, {
                "channel_id": command.channel_id, "op_id": command.op_id, "request_hash": command.request_hash,
                "response": codec.dump(response), "created_at": request.received_at,
            }))
        return WriteOutcome(response=response, replayed=False, operation=operation)

    # writing ----------------------------------------------------------------------------

    def _write(self) -> None:
        cursor, sql = self.cursor, self.sql
        new_slots = [s for s in self.slots.values() if s.is_new]
        if new_slots:
            rows = [event_to_row(s.event) for s in new_slots]
            columns = tuple(rows[0])
            by_key = {(s.event["workspace_id"], s.event["id"]): s for s in new_slots}
            for chunk in _chunks(rows, INSERT_CHUNK):
                cursor.execute(sql.insert_events(columns, len(chunk)),
                               [row[name] for row in chunk for name in columns])
                for pk, workspace_id, event_id in cursor.fetchall():
                    by_key[(workspace_id, event_id)].event["pk"] = pk
        changed = [s for s in self.slots.values() if s.dirty and not s.is_new and not s.deleted]
        if changed:
            rows = [event_to_row(s.event) for s in changed]
            columns = tuple(name for name in rows[0] if name not in IMMUTABLE_EVENT_COLUMNS)
            cursor.executemany(sql.update_event(columns), [
                (*(row[name] for name in columns), slot.event["pk"]) for row, slot in zip(rows, changed)
            ])
        deleted = [s.event["pk"] for s in self.slots.values() if s.deleted]
        retagged = [s for s in self.slots.values()
                    if not s.deleted and (s.is_new or s.event["tags"] != s.original_tags)]
        stale_tag_pks = deleted + [s.event["pk"] for s in retagged if not s.is_new]
        for chunk in _chunks(stale_tag_pks, INSERT_CHUNK):
            cursor.execute(sql.delete_tags(len(chunk)), chunk)
        tag_rows = [(s.event["workspace_id"], tag, s.event["pk"]) for s in retagged for tag in s.event["tags"]]
        if tag_rows:
            cursor.executemany(sql.insert_tag, tag_rows)
        for chunk in _chunks(deleted, INSERT_CHUNK):
            cursor.execute(sql.delete_events(len(chunk)), chunk)
        if self.operations:
            columns = sql.operation_columns
            cursor.executemany(sql.insert_operation, [
                _values(columns, {
                    "workspace_id": op.workspace_id, "seq": op.seq, "event_pk": slot.event["pk"],
                    "event_id": op.event_id, "channel_id": op.channel_id, "op_id": op.op_id, "kind": op.kind,
                    "fields": codec.dump(op.fields), "event_time": op.event_time, "received_at": op.received_at,
                    "event": codec.dump(op.event),
                })
                for op, slot in self.operations
            ])
        if self.new_idempotency:
            cursor.executemany(sql.insert_idempotency, self.new_idempotency)
        for workspace_id, last_seq in self.last_seq.items():
            cursor.execute(sql.update_sequence, (last_seq, workspace_id))

    def apply(self) -> list[WriteOutcome | BaseException]:
        self._lock_sequences()
        self._load()
        results: list[WriteOutcome | BaseException] = []
        for request in self.requests:
            try:
                results.append(self._decide(request))
            except DomainError as error:
                results.append(error)
        self._write()
        return results
