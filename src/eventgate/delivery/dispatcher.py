"""Dispatching committed operations to destinations: durable, at least once, in order per event.

The operation log is the outbox. Each destination has a cursor (`cursor_seq`): every operation
of its workspace up to it has been handled. A round reads the operations after the cursor,
sends those that pass the destination's filter, and only then moves the cursor, in the same
transaction that records the attempts. A process killed in the middle sends the round again
(at least once; a retry carries the same `webhook-id`). Ingest writes nothing for delivery.

Order: a destination gets one event's operations in `seq` order. Different events go out side
by side (at most `concurrency` at once). When a send fails, that operation is parked in
`delivery_queue` with the time of its next attempt (SPEC §10's schedule, with jitter,
`Retry-After` honoured), and later operations of the same event are parked behind it; other
events go on. A 410 disables the destination; so does failing for 24 hours.

One process at a time dispatches a destination: it holds a lease in the store, renewed every
scan; a process that dies stops renewing it and another takes the destination over when the
lease runs out.

Escalation (SPEC §11): a destination with `repeat_every_s` or `escalate_after_s` arms durable
timers (`escalation_timers`) for each event whose creation it is sent: the round that handles
the `create` operation (of an ongoing, unacknowledged event that passes the filter) writes them
in the transaction that moves its cursor, due at the operation's `received_at` plus the delay;
a round sent again finds them there and leaves them be. Only creations arm: an event that
starts to match later (an update raising its severity) is not reminded, and an escalation that
fired is not armed again by the event's later operations.

Every scan, `fire_timers` looks at the due timers of the destinations this process holds. Each is
fired in one write transaction: the event is read; acknowledged, closed or gone, the timer is
removed (that is how acknowledging or closing stops it); otherwise it is claimed with a
compare-and-set on the `due_at` that was read (a repeat moves to its next due time, an
escalation is removed), so of several processes that saw it due only one fires it, even just
after a lease changed hands. The message goes out after the commit: a reminder to the same
destination, an escalation to `escalate_to` (skipped if that one is gone or disabled), and the
attempt is recorded (`seq` null). A failed reminder or escalation is not retried: the next
reminder is the retry. A process that dies between the commit and the send loses that one
message: timers fire at most once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import anyio
import sqlalchemy as sa

from eventgate.delivery.filters import subscription_filter
from eventgate.delivery.messages import (
    ESCALATION_TITLES,
    escalation_body,
    notification_text,
    webhook_body,
    webhook_headers,
)
from eventgate.delivery.pacing import IngestFirst
from eventgate.delivery.outbound_http import AddressPolicy, OutboundClient
from eventgate.delivery.senders import AppriseSender, SendResult, WebhookSender
from eventgate.domain.action_links import event_links
from eventgate.domain.destinations import GIVE_UP_AFTER_MS, escalation_webhook_id, retry_delay_ms, webhook_id
from eventgate.domain.times import now_ms
from eventgate.metrics import delivery_lag_operations, delivery_lag_seconds, deliveries
from eventgate.store.database import Database
from eventgate.store.destinations import (
    Attempt,
    Destination,
    Progress,
    QueuedDelivery,
    Timer,
    claim_timer,
    due_timers,
    event_needs_attention,
    get_destination,
    list_destinations,
    queued_deliveries,
    record_attempts,
    release_lease,
    save_progress,
    stop_timer,
    take_lease,
)
from eventgate.store.events import get_event, operations_after, row_to_operation
from eventgate.store.schema import operations
from eventgate.store.server_secrets import action_link_secret
from eventgate.store.write_lock import WriteLock

log = logging.getLogger("eventgate.delivery")
T = TypeVar("T")

ROUND_SIZE = 500  # operations read per round
LEASE_SECONDS = 10.0
SCAN_SECONDS = 1.0  # leases are taken and renewed this often
POLL_SECONDS = 0.25  # how often an idle destination looks for operations committed by other processes
READERS = 2  # store reads delivery runs at once per process


@dataclass
class DispatchSettings:
    policy: AddressPolicy
    public_url: str | None = None
    timeout: float = 10.0
    concurrency: int = 16
    lease_seconds: float = LEASE_SECONDS
    scan_seconds: float = SCAN_SECONDS
    poll_seconds: float = POLL_SECONDS
    verify: Any = True  # TLS verification for webhooks (an ssl.SSLContext in tests)
    # Whether this process's ingest is saturated: delivery then leaves it most of the CPU (pacing.py).
    ingest_busy: Callable[[], bool] = lambda: False
    # The time in Unix milliseconds, for leases and escalation timers (a fake one in tests).
    clock: Callable[[], int] = now_ms


class StoreAccess:
    """The dispatcher's short transactions, in a worker thread, under the SQLite write lock."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._file_lock = WriteLock.for_database(database)
        self._thread_lock = threading.Lock()
        # However many destinations this process dispatches, delivery holds at most this many of
        # the reader pool's connections at once (PostgreSQL's connections are few and shared).
        self._readers = anyio.CapacityLimiter(READERS)
        self._writers = anyio.CapacityLimiter(1)

    async def read(self, work: Callable[[sa.Connection], T]) -> T:
        def run() -> T:
            with self.database.reader.connect() as connection:
                return work(connection)
        return await anyio.to_thread.run_sync(run, limiter=self._readers)

    async def write(self, work: Callable[[sa.Connection], T]) -> T:
        def run() -> T:
            with self._thread_lock, self._file_lock, self.database.reader.begin() as connection:
                if self.database.is_sqlite:
                    # Take SQLite's write lock first: a transaction that read before its first write
                    # cannot upgrade once another process has written since (SQLITE_BUSY at once).
                    connection.exec_driver_sql("UPDATE destinations SET id = id WHERE 0")
                return work(connection)
        # One at a time (the lock orders them anyway): waiting writes never fill anyio's shared threads.
        return await anyio.to_thread.run_sync(run, limiter=self._writers)

    def close(self) -> None:
        self._file_lock.close()


class Dispatcher:
    def __init__(self, database: Database, settings: DispatchSettings) -> None:
        self.store = StoreAccess(database)
        self.settings = settings
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{random.getrandbits(32):08x}"
        self.client = OutboundClient(settings.policy, timeout=settings.timeout, verify=settings.verify)
        self.webhooks = WebhookSender(self.client)
        self.apprise = AppriseSender(settings.policy)
        self.pacing = IngestFirst(settings.ingest_busy)
        self.workers: dict[str, DestinationWorker] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self.link_secret: bytes | None = None

    def links(self, event: dict[str, Any]) -> dict[str, str] | None:
        """An ongoing event's one-tap links, when the server has a public URL."""
        return event_links(self.link_secret, self.settings.public_url, event, time.time())

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.settings.public_url:
            self.link_secret = await self.store.read(action_link_secret)
        self._task = asyncio.create_task(self._supervise(), name="eventgate-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for worker in list(self.workers.values()):
            await worker.stop()
        held = list(self.workers)
        self.workers.clear()
        if held:
            def release(connection: sa.Connection) -> None:
                for destination_id in held:
                    release_lease(connection, destination_id, self.owner)
            try:
                await self.store.write(release)
            except Exception:  # noqa: BLE001 — the leases run out by themselves
                log.warning("could not release delivery leases", exc_info=True)
        await self.client.aclose()
        self.store.close()

    def operations_committed(self, committed: list[Any]) -> None:
        """Commit listener (the writer's thread): wake the destinations of these workspaces."""
        if self._loop is not None and committed:
            workspaces = {operation.workspace_id for operation in committed}
            self._loop.call_soon_threadsafe(self._wake, workspaces)

    def operations_received(self, received: list[dict[str, Any]]) -> None:
        """Hub listener (the event loop): operations other processes committed, from the broker."""
        self._wake({operation["workspace_id"] for operation in received})

    def _wake(self, workspaces: set[str]) -> None:
        for worker in self.workers.values():
            if worker.destination.workspace_id in workspaces:
                worker.wake.set()

    async def _supervise(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:  # noqa: BLE001 — the next scan tries again
                log.warning("delivery scan failed", exc_info=True)
            await asyncio.sleep(self.settings.scan_seconds)

    async def scan(self) -> None:
        """Take or renew the lease of every enabled destination nobody else holds; stop the workers
        of destinations this process no longer holds (disabled, deleted, taken over)."""
        now = self.settings.clock()
        until = now + int(self.settings.lease_seconds * 1000)

        def lease(connection: sa.Connection) -> list[Destination]:
            return [d for d in list_destinations(connection) if d.enabled
                    and take_lease(connection, d.id, self.owner, until, now)]

        enabled = await self.store.read(lambda c: [d for d in list_destinations(c) if d.enabled])
        # Without destinations nothing needs the write lock (SQLite's is the deployment's only one).
        held = {d.id: d for d in await self.store.write(lease)} if enabled else {}
        for destination_id in list(self.workers):
            if destination_id not in held:
                await self.workers.pop(destination_id).stop()
        for destination_id, destination in held.items():
            worker = self.workers.get(destination_id)
            if worker is None or worker.ended:  # new, or ended itself (disabled) and enabled again since
                self.workers[destination_id] = worker = DestinationWorker(self, destination)
                worker.start()
            else:
                worker.refresh(destination)
        try:
            await self.fire_timers(now)
        except Exception:  # noqa: BLE001 — the next scan tries again
            log.warning("firing escalation timers failed", exc_info=True)

    async def fire_timers(self, now: int | None = None) -> int:
        """Fire the due escalation timers of the destinations this process holds → how many fired."""
        now = self.settings.clock() if now is None else now
        held = [destination_id for destination_id, worker in self.workers.items() if not worker.ended]
        if not held:
            return 0
        due = await self.store.read(lambda connection: due_timers(connection, held, now))
        if not due:
            return 0
        semaphore = asyncio.Semaphore(self.settings.concurrency)

        async def fire(timer: Timer) -> bool:
            async with semaphore:
                return await self.fire_timer(timer, now)
        return sum(await asyncio.gather(*(fire(timer) for timer in due)))

    async def fire_timer(self, timer: Timer, now: int) -> bool:
        """Claim one timer as it was read (due) and send its message → whether this call fired it."""

        def claim(connection: sa.Connection) -> tuple[Destination, dict[str, Any], int] | None:
            source = get_destination(connection, timer.destination_id)
            if source is None:
                return None
            schedule_gone = (source.repeat_every_s is None if timer.kind == "repeat"
                             else source.escalate_after_s is None or source.escalate_to is None)
            if schedule_gone or not event_needs_attention(connection, timer.workspace_id, timer.event_id):
                stop_timer(connection, timer)  # acknowledged, closed, gone, or the schedule was removed
                return None
            fired = claim_timer(connection, timer, source.repeat_every_s, now)
            if fired is None:
                return None  # another process fired it
            target = source if timer.kind == "repeat" else get_destination(connection, source.escalate_to or "")
            event = get_event(connection, timer.workspace_id, timer.event_id)
            if target is None or not target.enabled or target.workspace_id != source.workspace_id or event is None:
                return None
            return target, event, fired

        claimed = await self.store.write(claim)
        if claimed is None:
            return False
        target, event, fired = claimed
        await self._send_escalation(timer, target, event, fired, now)
        return True

    async def _send_escalation(self, timer: Timer, target: Destination, event: dict[str, Any], fired: int,
                               now: int) -> None:
        message_id = escalation_webhook_id(target.id, timer.event_id, timer.kind, fired)
        links = self.links(event)
        if target.kind == "webhook":
            body = escalation_body(timer.kind, event, timer.destination_id, fired, now, links)
            headers = webhook_headers(target.secret or "", message_id, int(time.time()), body)
            result = await self.webhooks.send(target.url, body, headers)
        else:
            title, text = notification_text(event, self.settings.public_url, links)
            result = await self.apprise.send(target.url, ESCALATION_TITLES[timer.kind] + title, text)
        deliveries.labels(target.id, result.outcome).inc()
        attempt = Attempt(
            destination_id=target.id, seq=None, event_id=timer.event_id, webhook_id=message_id, attempt=1,
            outcome=result.outcome, http_status=result.http_status, latency_ms=result.latency_ms,
            error=result.error, response_excerpt=result.excerpt, created_at=now_ms())
        if result.outcome != "delivered":
            log.warning("%s of event %s to destination %s failed (not retried): %s", timer.kind, timer.event_id,
                        target.id, result.error)
        await self.store.write(lambda connection: record_attempts(connection, [attempt]))


class WorkerEnded(Exception):
    """This process no longer dispatches the destination (disabled, or its lease lost)."""


@dataclass(slots=True)
class Planned:
    operation: dict[str, Any]
    attempts: int  # failed attempts so far
    queued: bool  # it has a row in delivery_queue, to delete once delivered


class DestinationWorker:
    """Dispatches one destination while this process holds its lease."""

    def __init__(self, dispatcher: Dispatcher, destination: Destination) -> None:
        self.dispatcher = dispatcher
        self.destination = destination
        self.wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._rng = random.Random()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"eventgate-delivery-{self.destination.id}")

    @property
    def ended(self) -> bool:
        return self._task is not None and self._task.done()

    def refresh(self, fresh: Destination) -> None:
        """Take what a scan read of the destination (name, URL, filter, secret, lease) into the
        worker's own record, in place. The cursor and the failure clock stay the worker's: the
        scan may have read them before a round in progress saved its own, and setting them back
        would send that round again (and could move the stored cursor backwards)."""
        current = self.destination
        for name in ("name", "kind", "url", "enabled", "filter", "secret", "disabled_reason", "updated_at",
                     "lease_owner", "lease_until", "repeat_every_s", "escalate_after_s", "escalate_to"):
            setattr(current, name, getattr(fresh, name))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        settings = self.dispatcher.settings
        while True:
            try:
                busy = await self.round()
            except WorkerEnded:
                return
            except Exception:  # noqa: BLE001 — a store hiccup: the same round is tried again
                log.warning("delivery round failed for destination %s", self.destination.id, exc_info=True)
                busy = False
                await asyncio.sleep(1.0)
            if not busy:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), settings.poll_seconds)
                except asyncio.TimeoutError:
                    pass

    async def round(self) -> bool:
        """One round; True when there may be more to do at once."""
        destination = self.destination
        store = self.dispatcher.store

        def load(connection: sa.Connection) -> tuple[list[dict[str, Any]], list[QueuedDelivery], dict[int, dict]]:
            new = operations_after(connection, destination.workspace_id, destination.cursor_seq, ROUND_SIZE)
            queue = queued_deliveries(connection, destination.id)
            owed = {}
            now = now_ms()
            heads = _heads(queue)
            wanted = [item.seq for item in heads if item.next_attempt_at <= now]
            if wanted:
                rows = connection.execute(sa.select(operations).where(
                    operations.c.workspace_id == destination.workspace_id, operations.c.seq.in_(wanted)))
                owed = {row.seq: row_to_operation(row) for row in rows}
            return new, queue, owed

        await self.dispatcher.pacing.turn()
        new, queue, owed_operations = await store.read(load)
        now = now_ms()
        progress = Progress()
        matching = [op for op in new if _wanted(destination, op)]
        if destination.escalates:
            progress.timers = _timers_to_arm(destination, matching)
        if new:
            progress.cursor_seq = new[-1]["seq"]
            lag = now - new[-1]["received_at"]
            delivery_lag_seconds.labels(destination.id).set(max(0, lag) / 1000)
        delivery_lag_operations.labels(destination.id).set(len(new))

        # What goes out now: per event, its due queue head (then nothing more of it this round), or
        # its new operations in order when nothing of it is queued.
        queued_events = {item.event_id for item in queue}
        plans: dict[str, list[Planned]] = defaultdict(list)
        for item in _heads(queue):
            if item.next_attempt_at > now:
                continue
            operation = owed_operations.get(item.seq)
            if operation is None:  # removed by retention since: nothing left to send
                progress.dequeued.append(item.seq)
                continue
            plans[item.event_id].append(Planned(operation, item.attempts, queued=True))
        for operation in matching:
            event_id = operation["event_id"]
            if event_id in queued_events:
                progress.queued.append(QueuedDelivery(operation["seq"], event_id, 0, 0))  # behind its event's head
            else:
                plans[event_id].append(Planned(operation, 0, queued=False))

        semaphore = asyncio.Semaphore(self.dispatcher.settings.concurrency)
        results = await asyncio.gather(*(self._deliver_in_order(plan, semaphore, progress)
                                         for plan in plans.values()))
        failures = [result for result in results if result is not None]
        succeeded = any(attempt.outcome == "delivered" for attempt in progress.attempts)
        if failures and destination.failing_since is None:
            progress.failing_since = now
        elif succeeded and not failures:
            progress.failing_since = None
        gone = next((result for result in failures if result.gone), None)
        if gone is not None:
            progress.disabled_reason = "the receiver answered 410 Gone"
        elif failures and destination.failing_since is not None and now - destination.failing_since >= GIVE_UP_AFTER_MS:
            progress.disabled_reason = "failing for 24 hours"

        if progress.cursor_seq is None and not progress.attempts and not progress.dequeued and not progress.queued:
            return False
        await self.dispatcher.pacing.turn()
        held = await store.write(lambda connection: save_progress(connection, destination, self.dispatcher.owner,
                                                                  progress))
        if not held:
            raise WorkerEnded("another process took the destination over")
        if progress.cursor_seq is not None:
            destination.cursor_seq = progress.cursor_seq
        if progress.failing_since is not False:
            destination.failing_since = progress.failing_since  # type: ignore[assignment]
        if progress.disabled_reason is not None:
            log.warning("destination %s (%s) disabled: %s", destination.id, destination.name,
                        progress.disabled_reason)
            destination.enabled = False
            raise WorkerEnded(progress.disabled_reason)
        return len(new) == ROUND_SIZE or bool(plans)

    async def _deliver_in_order(self, plan: list[Planned], semaphore: asyncio.Semaphore,
                                progress: Progress) -> SendResult | None:
        """Send one event's operations in order; at the first failure park it and the rest."""
        async with semaphore:
            for index, planned in enumerate(plan):
                operation = planned.operation
                result = await self.send(operation, planned.attempts + 1, progress)
                if result.outcome == "delivered":
                    if planned.queued:
                        progress.dequeued.append(operation["seq"])
                    continue
                delay = retry_delay_ms(planned.attempts + 1, result.retry_after_s, rng=self._rng)
                progress.queued.append(QueuedDelivery(operation["seq"], operation["event_id"], planned.attempts + 1,
                                                      now_ms() + delay))
                for later in plan[index + 1:]:
                    progress.queued.append(QueuedDelivery(later.operation["seq"], later.operation["event_id"],
                                                          later.attempts, 0))
                return result
        return None

    async def send(self, operation: dict[str, Any], attempt: int, progress: Progress) -> SendResult:
        destination = self.destination
        await self.dispatcher.pacing.turn()
        message_id = webhook_id(destination.id, operation["seq"])
        links = self.dispatcher.links(operation["event"])
        if destination.kind == "webhook":
            body = webhook_body(operation, links)
            headers = webhook_headers(destination.secret or "", message_id, int(time.time()), body)
            result = await self.dispatcher.webhooks.send(destination.url, body, headers)
        else:
            title, text = notification_text(operation["event"], self.dispatcher.settings.public_url, links)
            result = await self.dispatcher.apprise.send(destination.url, title, text)
        deliveries.labels(destination.id, result.outcome).inc()
        progress.attempts.append(Attempt(
            destination_id=destination.id, seq=operation["seq"], event_id=operation["event_id"],
            webhook_id=message_id, attempt=attempt, outcome=result.outcome, http_status=result.http_status,
            latency_ms=result.latency_ms, error=result.error, response_excerpt=result.excerpt, created_at=now_ms()))
        return result


def _heads(queue: list[QueuedDelivery]) -> list[QueuedDelivery]:
    """Each event's oldest owed operation (the queue is in seq order)."""
    seen: set[str] = set()
    heads = []
    for item in queue:
        if item.event_id not in seen:
            seen.add(item.event_id)
            heads.append(item)
    return heads


def _timers_to_arm(destination: Destination, matching: list[dict[str, Any]]) -> list[Timer]:
    """The escalation timers of the events these operations create (ongoing and unacknowledged)."""
    timers = []
    for operation in matching:
        event = operation["event"]
        if operation["kind"] != "create" or event.get("state") != "ongoing" or event.get("acknowledged_at"):
            continue
        for kind, delay_s in (("repeat", destination.repeat_every_s),
                              ("escalate", destination.escalate_after_s if destination.escalate_to else None)):
            if delay_s is not None:
                timers.append(Timer(destination.id, operation["event_id"], destination.workspace_id, kind,
                                    operation["received_at"] + delay_s * 1000))
    return timers


def _wanted(destination: Destination, operation: dict[str, Any]) -> bool:
    return subscription_filter(destination.filter).matches(operation)
