"""Group commit: every event write goes through one writer thread, many requests per transaction.

Why: a durable commit costs an fsync (SQLite) or a WAL flush (PostgreSQL). Requests that
arrive while one transaction commits are gathered into the next, so durability costs one
flush per batch instead of one per request.

Each transaction first locks the `sequences` row of every workspace it touches, then reads,
decides and writes (store/write_batch.py). Holding that lock until commit is what makes `seq`
increase in commit order across processes: nobody can take seq n+1 before the holder of n has
committed. On SQLite, processes also take store/write_lock.py's lock around the transaction.

Faults stay small:
- The wait is bounded: a full queue answers `503 overloaded` at once, and a request still
  unanswered at its deadline answers `503 store_unavailable`; both carry Retry-After.
- The store being down or locked fails the batch with 503 and nothing else: the next batch
  tries again, so writes resume by themselves when the store returns.
- An error one request caused (the store refused its data) fails that request alone: the batch
  is committed again, once, with every request in its own savepoint.
- The writer thread is watched: if it dies it is started again, and /readyz says not ready
  while it is dead or stuck.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from sqlalchemy.exc import DBAPIError

from eventgate.domain.errors import DomainError
from eventgate.domain.lifecycle import LifecycleCommand
from eventgate.domain.operations import CommittedOperation, WriteOutcome
from eventgate.domain.times import now_ms
from eventgate.metrics import (
    operations_committed,
    write_batch_seconds,
    write_batch_size,
    write_queue_depth,
    write_refusals,
)
from eventgate.store.database import Database, WalCheckpointer
from eventgate.store.dialects import write_statements
from eventgate.store.write_batch import WriteBatch, WriteRequest
from eventgate.store.write_lock import WriteLock

log = logging.getLogger("eventgate.writer")

MAX_BATCH = 512
GIL_SWITCH_INTERVAL = 0.0005  # seconds; see GroupCommit.start
REAP_INTERVAL = 0.1  # seconds between checks for requests past their deadline
RETRY_AFTER_SECONDS = 1


@dataclass
class GroupCommitSettings:
    strict_event_types: bool = False
    # Requests waiting for an answer (queued or being committed); beyond it: 503 overloaded.
    queue_size: int = 10_000
    # Seconds a request waits for its commit before it is answered 503 store_unavailable.
    write_timeout: float = 10.0


def overloaded() -> DomainError:
    return DomainError(503, "overloaded", "too many writes are waiting; retry shortly",
                       headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def store_unavailable() -> DomainError:
    return DomainError(503, "store_unavailable", "the event store is unavailable; retry shortly",
                       headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def store_rejected() -> DomainError:
    return DomainError(400, "store_rejected", "the event store refused this request's data")


def internal_error() -> DomainError:
    return DomainError(500, "internal_error", "the write failed unexpectedly; it has been logged")


class GroupCommit:
    """Owns the writer thread. `submit` is called from the event loop."""

    def __init__(
        self,
        database: Database,
        settings: GroupCommitSettings | None = None,
        on_commit: Callable[[list[CommittedOperation]], None] | None = None,
    ) -> None:
        self.database = database
        self.settings = settings or GroupCommitSettings()
        self.on_commit = on_commit
        self._queue: queue.SimpleQueue[WriteRequest | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._statements = write_statements(database.is_sqlite)
        self._lock = WriteLock.for_database(database)
        self._checkpointer = WalCheckpointer(database)
        dbapi = database.writer.dialect.loaded_dbapi
        # The writer talks to the driver directly, so driver errors arrive unwrapped.
        self._database_errors: tuple[type[BaseException], ...] = (DBAPIError, dbapi.Error)
        # Errors that say the request's data was refused; any other database error is the store's.
        self._data_errors: tuple[type[BaseException], ...] = (dbapi.DataError, dbapi.IntegrityError)
        # Requests taken from the queue that could not join the open transaction: next batch first.
        self._carried: list[WriteRequest] = []
        self._stopping = False
        # Event-loop side: requests awaiting an answer, oldest first (deadlines are in this order).
        self._waiting: collections.deque[WriteRequest] = collections.deque()
        self._reaper: asyncio.Task[None] | None = None
        self._pending = 0
        # Writer side: when it last finished a batch or found the queue empty.
        self._last_progress = time.monotonic()
        self._busy_since: float | None = None
        self.restarts = 0

    # -- the event loop's side --------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # The writer thread alternates short GIL-free driver calls with bits of Python; after each
        # call it must win the GIL back from the event loop thread, which keeps it for up to one
        # switch interval (5 ms by default) when busy. A shorter interval bounds that wait.
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        self._stopping = False
        self._start_thread()
        self._reaper = loop.create_task(self._reap())
        self._checkpointer.start()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="eventgate-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop (called from a worker thread, not the loop)."""
        if self._reaper is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._reaper.cancel)
            self._reaper = None
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        self._checkpointer.stop()
        self._lock.close()

    @property
    def pending(self) -> int:
        """Writes submitted and not answered yet."""
        return self._pending

    async def submit(self, command: LifecycleCommand, *, workspace_id: str,
                     verified_password_hash: str | None) -> WriteOutcome:
        assert self._loop is not None, "writer not started"
        if self._pending >= self.settings.queue_size:
            write_refusals.labels("overloaded").inc()
            raise overloaded()
        future = self._loop.create_future()
        request = WriteRequest(command, workspace_id, verified_password_hash, now_ms(), future,
                               time.monotonic() + self.settings.write_timeout)
        self._pending += 1
        self._waiting.append(request)
        self._queue.put(request)
        try:
            return await future
        finally:
            self._pending -= 1

    async def _reap(self) -> None:
        """Answer 503 to requests still waiting at their deadline; forget answered ones."""
        waiting = self._waiting
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            now = time.monotonic()
            while waiting and (waiting[0].future.done() or waiting[0].deadline <= now):  # type: ignore[union-attr]
                request = waiting.popleft()
                if not request.future.done():  # type: ignore[union-attr]
                    write_refusals.labels("deadline").inc()
                    request.future.set_exception(store_unavailable())  # type: ignore[union-attr]
            self._restart_if_dead()

    def _restart_if_dead(self) -> None:
        if self._stopping or self._thread is None or self._thread.is_alive():
            return
        self.restarts += 1
        log.error("the writer thread died; starting it again (restart %d)", self.restarts)
        self._start_thread()

    def is_healthy(self) -> bool:
        """The writer thread is alive and not stuck on one batch past the write deadline."""
        if self._thread is None or not self._thread.is_alive():
            return False
        busy_since = self._busy_since
        return busy_since is None or time.monotonic() - busy_since < self.settings.write_timeout

    # -- the writer thread ------------------------------------------------------------------

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
                if self._queue.empty():
                    write_queue_depth.set(0)  # idle
                first = self._queue.get()
                if first is None:
                    self._stopping = True
                    return
                batch = [first]
            batch.extend(self._take_waiting(MAX_BATCH - len(batch)))
            write_queue_depth.set(len(batch) + len(self._carried) + self._queue.qsize())
            self._busy_since = time.monotonic()
            try:
                results = self._commit(batch)
            except Exception:  # a bug must fail these requests, never kill the writer thread
                log.exception("write batch of %d failed unexpectedly", len(batch))
                results = [internal_error() for _ in batch]
            finally:
                self._busy_since = None
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._deliver, batch, results)
            except RuntimeError:  # loop closed during shutdown
                pass

    def _deliver(self, batch: list[WriteRequest], results: list[WriteOutcome | DomainError]) -> None:
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

    @contextlib.contextmanager
    def _transaction(self, batch: list[WriteRequest],
                     results: dict[int, WriteOutcome | DomainError]) -> Iterator[tuple[Any, list[WriteRequest]]]:
        """Open the write transaction (after the cross-process lock) and yield its cursor with the
        requests still worth committing: those answered 503 at their deadline meanwhile must not
        commit, and are answered so in `results`."""
        with self._lock, self.database.writer.begin() as connection:
            now = time.monotonic()
            for request in batch:
                if request.deadline <= now:
                    results[id(request)] = store_unavailable()
            cursor = connection.connection.cursor()
            try:
                yield cursor, [r for r in batch if r.deadline > now]
            finally:
                cursor.close()

    def _commit(self, batch: list[WriteRequest]) -> list[WriteOutcome | DomainError]:
        """Commit the batch in one transaction. Requests that arrive while it is being decided join
        it (batch grows in place): they would otherwise wait for this commit and pay one of their own."""
        started = time.perf_counter()
        results: dict[int, WriteOutcome | DomainError] = {}
        try:
            with self._transaction(batch, results) as (cursor, live):
                work = WriteBatch(cursor, self._statements, strict_event_types=self.settings.strict_event_types)
                if live:
                    decided = work.decide(live)
                    while len(batch) < MAX_BATCH:
                        arrived = self._take_waiting(MAX_BATCH - len(batch))
                        joining = [r for r in arrived if work.can_join(r)]
                        self._carried.extend(r for r in arrived if not work.can_join(r))
                        if not joining:
                            break
                        batch.extend(joining)
                        live.extend(joining)
                        decided.extend(work.decide(joining))
                    work.write()
                    results.update((id(r), d) for r, d in zip(live, decided))
        except self._database_errors as error:
            if not _is_data_error(error, self._data_errors):
                log.warning("write batch of %d failed, the store is unavailable: %s", len(batch), _first_line(error))
                write_refusals.labels("store_unavailable").inc(len(batch))
                return [store_unavailable() for _ in batch]
            log.warning("write batch of %d refused by the store; committing each request apart: %s",
                        len(batch), _first_line(error))
            return self._commit_each(batch)
        except Exception:
            log.exception("write batch of %d failed unexpectedly; committing each request apart", len(batch))
            return self._commit_each(batch)
        self._record(batch, results, started)
        return [results[id(r)] for r in batch]

    def _commit_each(self, batch: list[WriteRequest]) -> list[WriteOutcome | DomainError]:
        """One more transaction for the whole batch, each request in its own savepoint: a request
        the store refuses is rolled back alone, its batch-mates commit."""
        started = time.perf_counter()
        results: dict[int, WriteOutcome | DomainError] = {}
        try:
            with self._transaction(batch, results) as (cursor, live):
                for request in live:
                    cursor.execute("SAVEPOINT eventgate_request")
                    try:
                        work = WriteBatch(cursor, self._statements,
                                          strict_event_types=self.settings.strict_event_types)
                        [result] = work.decide([request])
                        work.write()
                    except Exception as error:
                        cursor.execute("ROLLBACK TO SAVEPOINT eventgate_request")
                        if not isinstance(error, self._database_errors):
                            log.exception("a write failed unexpectedly")
                            result = internal_error()
                        elif _is_data_error(error, self._data_errors):
                            write_refusals.labels("store_rejected").inc()
                            log.warning("the store refused a request: %s", _first_line(error))
                            result = store_rejected()
                        else:
                            raise
                    cursor.execute("RELEASE SAVEPOINT eventgate_request")
                    results[id(request)] = result
        except self._database_errors as error:
            log.warning("write batch of %d failed, the store is unavailable: %s", len(batch), _first_line(error))
            write_refusals.labels("store_unavailable").inc(len(batch))
            return [store_unavailable() for _ in batch]
        self._record(batch, results, started)
        return [results[id(r)] for r in batch]

    @staticmethod
    def _record(batch: list[WriteRequest], results: dict[int, Any], started: float) -> None:
        write_batch_seconds.observe(time.perf_counter() - started)
        write_batch_size.observe(len(batch))
        committed: dict[str, int] = {}
        for result in results.values():
            if isinstance(result, WriteOutcome) and result.operation is not None:
                committed[result.operation.kind] = committed.get(result.operation.kind, 0) + 1
        for kind, count in committed.items():
            operations_committed.labels(kind).inc(count)


def _is_data_error(error: BaseException, data_errors: tuple[type[BaseException], ...]) -> bool:
    """The driver's error, unwrapped from SQLAlchemy's when it is wrapped, is about the data."""
    original = getattr(error, "orig", None) or error
    return isinstance(original, data_errors)


def _first_line(error: BaseException) -> str:
    return str(error).split("\n", 1)[0][:300]
