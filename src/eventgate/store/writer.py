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
import sys
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
from eventgate.store.database import Database, WalCheckpointer
from eventgate.store.events import event_to_row, public_event, row_to_event
from eventgate.store.schema import events, idempotency_records, operations

log = logging.getLogger("eventgate.writer")

MAX_BATCH = 512
GIL_SWITCH_INTERVAL = 0.0005  # seconds; see EventWriter.start
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
        self._checkpointer = WalCheckpointer(database)
        # The writer talks to the driver directly (see WriterStatements), so driver errors arrive unwrapped.
        self._database_errors: tuple[type[BaseException], ...] = (
            DBAPIError, database.writer.dialect.loaded_dbapi.Error)
        self._last_sweep = time.monotonic()
        # Requests taken from the queue that could not join the open transaction: next batch first.
        self._carried: list[WriteRequest] = []
        self._stopping = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # The writer thread alternates short GIL-free SQLite calls with bits of Python; after each
        # call it must win the GIL back from the event loop thread, which keeps it for up to one
        # switch interval (5 ms by default) when busy. A shorter interval bounds that wait.
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self._thread = threading.Thread(target=self._run, name="eventgate-writer", daemon=True)
        self._thread.start()
        self._checkpointer.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        self._checkpointer.stop()

    async def submit(self, command: LifecycleCommand, *, workspace_id: str,
                     verified_password_hash: str | None) -> WriteOutcome:
        assert self._loop is not None, "writer not started"
        future = self._loop.create_future()
        self._queue.put(WriteRequest(command, workspace_id, verified_password_hash, now_ms(), future))
        return await future

    # -- the writer thread -------------------------------------------------------------

    def _take_waiting(self, limit: int) -> list[WriteRequest]:
        """Requests already queued (at most limit), without blocking; notes a stop request."""
        taken: list[WriteRequest] = []
        while len(taken) < limit and not self._stopping:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._stopping = True
            else:
                taken.append(item)
        return taken

    def _run(self) -> None:
        while True:
            if self._carried:
                batch, self._carried = self._carried[:MAX_BATCH], self._carried[MAX_BATCH:]
            elif self._stopping:
                return
            else:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
            batch.extend(self._take_waiting(MAX_BATCH - len(batch)))
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

    def _commit(self, batch: list[WriteRequest], *, gather: bool = True) -> list[WriteOutcome | BaseException]:
        """Commit the batch in one transaction. With gather, requests that arrive while it is being
        decided join it (batch grows in place): they would otherwise wait for this commit and
        then pay a commit of their own."""
        for attempt in range(RETRIES):
            started = time.perf_counter()
            try:
                with self.database.writer.begin() as connection:
                    cursor = connection.connection.cursor()
                    try:
                        work = _Batch(cursor, batch, self.settings, self._statements)
                        results = work.decide(batch)
                        while gather and len(batch) < MAX_BATCH:
                            arrived = self._take_waiting(MAX_BATCH - len(batch))
                            joining = [r for r in arrived if work.can_join(r)]
                            self._carried.extend(r for r in arrived if not work.can_join(r))
                            if not joining:
                                break
                            batch.extend(joining)
                            results.extend(work.decide(joining))
                        work.write()
                    finally:
                        cursor.close()
            except self._database_errors as error:
                log.warning("write batch of %d failed (attempt %d): %s", len(batch), attempt + 1, error)
                if len(batch) > 1:
                    # Isolate the request that breaks the batch; the others still commit.
                    return [result for request in batch for result in self._commit([request], gather=False)]
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

    Why not SQLAlchemy here: the writer runs a dozen statements per batch with hundreds of rows
    between them, and SQLAlchemy's per-row parameter processing cost more CPU than SQLite did.

    SQLite: every statement takes all rows of the batch as one parameter, a JSON array read with
    json_each(), and reads come back as one JSON array. The sqlite3 driver releases the GIL for
    every row it steps (executemany, fetchall); each time, the writer thread must win it back
    from the busy event loop thread, which costs up to a switch interval. Here a batch is about
    ten driver steps whatever its size, and each statement has one SQL text, always prepared.

    PostgreSQL (psycopg fetches whole results and pipelines executemany, so rows cost no GIL
    hand-off): multi-row VALUES and IN lists, their row counts split into powers of two
    (21 rows → 16 + 4 + 1) so that a handful of SQL texts cover every batch size.
    """

    def __init__(self, is_postgres: bool) -> None:
        self.placeholder = "%s" if is_postgres else "?"
        self.is_postgres = is_postgres
        # The highest pk ever handed out (events uses AUTOINCREMENT, so a deleted event's pk, still
        # named by its operations, is never reused), or the highest present if larger.
        self.last_event_pk = (
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
            "COALESCE((SELECT MAX(pk) FROM events), 0))"
        )
        self.lock_sequence = self.sql(
            "SELECT last_seq FROM sequences WHERE workspace_id = ?" + (" FOR UPDATE" if is_postgres else ""))
        self.update_sequence = self.sql("UPDATE sequences SET last_seq = ? WHERE workspace_id = ?")
        self.event_columns = [c.name for c in events.columns]
        self.insert_type = self.sql(
            "INSERT INTO event_types (workspace_id, name, code, code_key, status, type, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 1, 'CUSTOM', ?, ?) RETURNING id")
        self.operation_columns = [c.name for c in operations.columns]
        self.idempotency_columns = [c.name for c in idempotency_records.columns]
        self.tag_columns = ["workspace_id", "tag", "event_pk"]
        # One channel per lookup: the primary key (channel_id, op_id) then serves every op_id.
        self.select_idempotency = self._keyed_lookup(
            "idempotency_records", "op_id, request_hash, response", "channel_id", "op_id")
        self.select_types = self._keyed_lookup(
            "event_types", "id, code, code_key, status, type", "workspace_id", "code_key")
        # PostgreSQL (SQLite reads events as one JSON array: select_events_as_json).
        self.select_events = (
            f"SELECT {_columns(events, 'e.')}, t.code FROM "
            "(SELECT %s::text AS workspace_id, unnest(%s::text[]) AS id) k "
            "CROSS JOIN LATERAL (SELECT * FROM events WHERE workspace_id = k.workspace_id AND id = k.id LIMIT 1) e "
            "LEFT JOIN event_types t ON t.id = e.event_type_id")
        self._texts: dict[tuple[Any, ...], str] = {}

    def sql(self, text: str) -> str:
        return text.replace("?", self.placeholder) if self.is_postgres else text

    def _cached(self, key: tuple[Any, ...], build: Callable[[], str]) -> str:
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = build()
        return text

    def marks(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)

    def _where_in(self, template: str, count: int) -> str:
        """PostgreSQL: an IN list of count placeholders. SQLite: one parameter, a JSON array of
        the values (count is ignored): one SQL text for any count, one driver step."""
        if not self.is_postgres:
            return self._cached((template, "json"), lambda: template.format("SELECT value FROM json_each(?)"))
        return self._cached((template, count), lambda: self.sql(template).format(self.marks(count)))

    def select_channels(self, count: int) -> str:
        return self._where_in("SELECT id, workspace_id, password_hash FROM channels WHERE id IN ({})", count)

    def _keyed_lookup(self, table: str, columns: str, fixed: str, key: str) -> str:
        """Rows of `table` whose unique key is (fixed = ?, key = each value), the values in one
        parameter: a JSON array on SQLite, a text[] on PostgreSQL.

        PostgreSQL: one index probe per value (LATERAL … LIMIT 1 over unnest), not `key IN (…)`.
        With an IN list the planner may take only `fixed` as the index condition and filter the
        keys, which it does when its statistics say that range is tiny: a new channel or
        workspace until the next ANALYZE. Measured: 2–5 ms per lookup growing with the range,
        against 0.2 ms for the probes."""
        if not self.is_postgres:
            return (f"SELECT {columns} FROM {table} WHERE {fixed} = ? "
                    f"AND {key} IN (SELECT value FROM json_each(?))")
        return (f"SELECT {columns} FROM (SELECT %s::text AS fixed, unnest(%s::text[]) AS wanted) k "
                f"CROSS JOIN LATERAL (SELECT {columns} FROM {table} "
                f"WHERE {fixed} = k.fixed AND {key} = k.wanted LIMIT 1) found")

    def delete_tags(self, count: int) -> str:
        return self._where_in("DELETE FROM event_tags WHERE event_pk IN ({})", count)

    def delete_events(self, count: int) -> str:
        return self._where_in("DELETE FROM events WHERE pk IN ({})", count)

    def insert_rows(self, table: str, columns: tuple[str, ...] | list[str], rows: int, returning: str = "") -> str:
        """INSERT INTO table (columns) VALUES (…) × rows [RETURNING …]."""
        def build() -> str:
            row = "(" + self.marks(len(columns)) + ")"
            text = f"INSERT INTO {table} ({', '.join(map(_quoted, columns))}) VALUES " + ", ".join([row] * rows)
            return text + (f" RETURNING {returning}" if returning else "")
        return self._cached(("insert", table, tuple(columns), rows, returning), build)

    def update_event(self, columns: tuple[str, ...]) -> str:
        """One row per execution (PostgreSQL: executemany, pipelined by psycopg)."""
        def build() -> str:
            assignments = ", ".join(f"{_quoted(name)} = ?" for name in columns)
            return self.sql(f"UPDATE events SET {assignments} WHERE pk = ?")
        return self._cached(("update", columns), build)

    # SQLite only: every row of a batch in one statement and one parameter, a JSON array of rows.

    def insert_json(self, table: str, columns: tuple[str, ...] | list[str]) -> str:
        def build() -> str:
            values = ", ".join(f"json_extract(value, '$[{index}]')" for index in range(len(columns)))
            return f"INSERT INTO {table} ({', '.join(map(_quoted, columns))}) SELECT {values} FROM json_each(?)"
        return self._cached(("insert-json", table, tuple(columns)), build)

    def update_events_json(self, columns: tuple[str, ...]) -> str:
        """`UPDATE … FROM json_each(?)`, each element [pk, value, …] (UPDATE FROM: SQLite >= 3.33)."""
        def build() -> str:
            assignments = ", ".join(f"{_quoted(name)} = json_extract(v.value, '$[{index + 1}]')"
                                    for index, name in enumerate(columns))
            return (f"UPDATE events SET {assignments} FROM json_each(?) AS v "
                    "WHERE events.pk = json_extract(v.value, '$[0]')")
        return self._cached(("update-json", columns), build)

    def select_events_as_json(self) -> str:
        """The events as one JSON array of rows: one driver step instead of one per row."""
        def build() -> str:
            values = ", ".join([f"e.{_quoted(c.name)}" for c in events.columns] + ["t.code"])
            return (f"SELECT json_group_array(json_array({values})) FROM events e "
                    "LEFT JOIN event_types t ON t.id = e.event_type_id "
                    "WHERE e.workspace_id = ? AND e.id IN (SELECT value FROM json_each(?))")
        return self._cached(("select-events-json",), build)


# Columns an operation never changes: left out of UPDATE so that their indexes are not rewritten.
IMMUTABLE_EVENT_COLUMNS = frozenset({"workspace_id", "id", "channel_id", "created_at"})
LARGEST_CHUNK = 128  # rows per statement: far below SQLite's and PostgreSQL's parameter limits


def _chunks(items: list[Any]) -> list[list[Any]]:
    """items split into power-of-two sized runs, largest first (at most LARGEST_CHUNK)."""
    chunks, start = [], 0
    while start < len(items):
        size = min(LARGEST_CHUNK, 1 << ((len(items) - start).bit_length() - 1))
        chunks.append(items[start:start + size])
        start += size
    return chunks


def _flat(rows: list[tuple[Any, ...]]) -> list[Any]:
    return [value for row in rows for value in row]


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
        self.requests = requests  # grows when later arrivals join before the commit
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

    def _lock_sequences(self, requests: list[WriteRequest]) -> None:
        cursor = self.cursor
        for workspace_id in sorted({r.workspace_id for r in requests}):
            cursor.execute(self.sql.lock_sequence, (workspace_id,))
            row = cursor.fetchone()
            if row is None:
                raise RuntimeError(f"workspace {workspace_id} has no sequences row")
            self.last_seq[workspace_id] = row[0]

    def _select_in(self, statement: Callable[[int], str], fixed: tuple[Any, ...], values: list[Any]) -> list[Any]:
        """Rows of `statement` for every value (see WriterStatements._where_in)."""
        if not values:
            return []
        if not self.sql.is_postgres:
            self.cursor.execute(statement(len(values)), (*fixed, codec.dump(values)))
            return self.cursor.fetchall()
        rows: list[Any] = []
        for chunk in _chunks(values):
            self.cursor.execute(statement(len(chunk)), (*fixed, *chunk))
            rows.extend(self.cursor.fetchall())
        return rows

    def _lookup(self, statement: str, fixed: str, keys: list[str], *, plan_each_time: bool = False) -> list[Any]:
        """Rows of a WriterStatements._keyed_lookup statement: every key in one parameter."""
        if not keys:
            return []
        if self.sql.is_postgres:
            self.cursor.execute(statement, (fixed, keys), prepare=False if plan_each_time else None)
        else:
            self.cursor.execute(statement, (fixed, codec.dump(keys)))
        return self.cursor.fetchall()

    def _select_events(self, workspace_id: str, event_ids: list[str]) -> list[Any]:
        if self.sql.is_postgres:
            # Planned at every execution, never from a cached plan: events has many indexes that
            # lead with workspace_id, and while the table has no statistics yet (a new database,
            # until autovacuum's first ANALYZE) they all cost the same, so a cached plan could
            # keep one that filters the whole workspace for the id (measured: 10 ms per batch and
            # growing, against under 1 ms).
            return self._lookup(self.sql.select_events, workspace_id, event_ids, plan_each_time=True)
        self.cursor.execute(self.sql.select_events_as_json(), (workspace_id, codec.dump(event_ids)))
        return codec.load(self.cursor.fetchone()[0])

    def _execute_in(self, statement: Callable[[int], str], values: list[Any]) -> None:
        if not self.sql.is_postgres:
            if values:
                self.cursor.execute(statement(len(values)), (codec.dump(values),))
            return
        for chunk in _chunks(values):
            self.cursor.execute(statement(len(chunk)), chunk)

    def _load(self, requests: list[WriteRequest]) -> None:
        """Read what these requests touch, except what this batch already holds (and may have changed)."""
        sql = self.sql
        channel_ids = list({r.command.channel_id for r in requests
                            if r.command.channel_id and r.command.channel_id not in self.channels})
        for channel_id, workspace_id, password_hash in self._select_in(sql.select_channels, (), channel_ids):
            self.channels[channel_id] = (workspace_id, password_hash)
        op_ids: dict[str, set[str]] = {}
        for request in requests:
            channel_id = request.command.channel_id
            if channel_id and (channel_id, request.command.op_id) not in self.idempotency:
                op_ids.setdefault(channel_id, set()).add(request.command.op_id)
        for channel_id, wanted in op_ids.items():
            for op_id, request_hash, response in self._lookup(sql.select_idempotency, channel_id, list(wanted)):
                self.idempotency[(channel_id, op_id)] = (request_hash, codec.load(response))
        by_workspace: dict[str, set[str]] = {}
        for request in requests:
            event_id = request.command.event_id
            if event_id and (request.workspace_id, event_id) not in self.slots:
                by_workspace.setdefault(request.workspace_id, set()).add(event_id)
        names = (*sql.event_columns, "event_type")
        for workspace_id, event_ids in by_workspace.items():
            for row in self._select_events(workspace_id, list(event_ids)):
                event = row_to_event(_RowMapping(dict(zip(names, row))))  # type: ignore[arg-type]
                self.slots[(workspace_id, event["id"])] = _EventSlot(event, original_tags=list(event["tags"]))
        codes: dict[str, set[str]] = {}
        for request in requests:
            event_type = request.command.event_type
            if event_type and (request.workspace_id, event_type.lower()) not in self.types:
                codes.setdefault(request.workspace_id, set()).add(event_type.lower())
        for workspace_id, code_keys in codes.items():
            for type_id, code, code_key, status, type_kind in self._lookup(
                    sql.select_types, workspace_id, list(code_keys)):
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

    def _insert(self, table: str, columns: tuple[str, ...] | list[str], rows: list[tuple[Any, ...]],
                returning: str = "") -> list[Any]:
        if not self.sql.is_postgres and not returning:
            self.cursor.execute(self.sql.insert_json(table, columns), (codec.dump(rows),))
            return []
        returned: list[Any] = []
        for chunk in _chunks(rows):
            self.cursor.execute(self.sql.insert_rows(table, columns, len(chunk), returning), _flat(chunk))
            if returning:
                returned.extend(self.cursor.fetchall())
        return returned

    def _insert_events(self, new_slots: list[_EventSlot]) -> None:
        rows = [event_to_row(s.event) for s in new_slots]
        if self.sql.is_postgres:
            columns = tuple(rows[0])
            by_key = {(s.event["workspace_id"], s.event["id"]): s for s in new_slots}
            # Matched by (workspace_id, id), not by position: RETURNING order is not guaranteed.
            for pk, workspace_id, event_id in self._insert(
                    "events", columns, [tuple(row.values()) for row in rows], returning="pk, workspace_id, id"):
                by_key[(workspace_id, event_id)].event["pk"] = pk
            return
        # SQLite: this transaction holds the write lock (BEGIN IMMEDIATE), so the pks SQLite would
        # pick are known in advance (last handed out + 1, …); naming them saves reading back a row
        # per event. Inserting an explicit pk advances sqlite_sequence too.
        self.cursor.execute(self.sql.last_event_pk)
        last_pk = self.cursor.fetchone()[0]
        for offset, (slot, row) in enumerate(zip(new_slots, rows), start=1):
            slot.event["pk"] = row["pk"] = last_pk + offset
        self._insert("events", tuple(rows[0]), [tuple(row.values()) for row in rows])

    def write(self) -> None:
        """Write everything decided, in a handful of statements."""
        sql = self.sql
        new_slots = [s for s in self.slots.values() if s.is_new]
        if new_slots:
            self._insert_events(new_slots)
        changed = [s for s in self.slots.values() if s.dirty and not s.is_new and not s.deleted]
        if changed:
            rows = [event_to_row(s.event) for s in changed]
            columns = tuple(name for name in rows[0] if name not in IMMUTABLE_EVENT_COLUMNS)
            values = [(slot.event["pk"], *(row[name] for name in columns)) for row, slot in zip(rows, changed)]
            if sql.is_postgres:
                self.cursor.executemany(sql.update_event(columns), [(*v[1:], v[0]) for v in values])
            else:
                self.cursor.execute(sql.update_events_json(columns), (codec.dump(values),))
        deleted = [s.event["pk"] for s in self.slots.values() if s.deleted]
        retagged = [s for s in self.slots.values()
                    if not s.deleted and (s.is_new or s.event["tags"] != s.original_tags)]
        stale_tag_pks = deleted + [s.event["pk"] for s in retagged if not s.is_new]
        self._execute_in(sql.delete_tags, stale_tag_pks)
        tag_rows = [(s.event["workspace_id"], tag, s.event["pk"]) for s in retagged for tag in s.event["tags"]]
        if tag_rows:
            self._insert("event_tags", sql.tag_columns, tag_rows)
        self._execute_in(sql.delete_events, deleted)
        if self.operations:
            columns = sql.operation_columns
            self._insert("operations", columns, [
                _values(columns, {
                    "workspace_id": op.workspace_id, "seq": op.seq, "event_pk": slot.event["pk"],
                    "event_id": op.event_id, "channel_id": op.channel_id, "op_id": op.op_id, "kind": op.kind,
                    "fields": codec.dump(op.fields), "event_time": op.event_time, "received_at": op.received_at,
                    "event": codec.dump(op.event),
                })
                for op, slot in self.operations
            ])
        if self.new_idempotency:
            self._insert("idempotency_records", sql.idempotency_columns, self.new_idempotency)
        for workspace_id, last_seq in self.last_seq.items():
            self.cursor.execute(sql.update_sequence, (last_seq, workspace_id))

    def decide(self, requests: list[WriteRequest]) -> list[WriteOutcome | BaseException]:
        """Take these requests into the transaction (the first call locks their workspaces' seq)."""
        if not self.last_seq:
            self._lock_sequences(requests)
        self._load(requests)
        results: list[WriteOutcome | BaseException] = []
        for request in requests:
            try:
                results.append(self._decide(request))
            except DomainError as error:
                results.append(error)
        return results

    def can_join(self, request: WriteRequest) -> bool:
        """Later requests may join only if their workspace's seq row is already locked: taking
        more locks out of sorted order could deadlock with another process's writer."""
        return request.workspace_id in self.last_seq
