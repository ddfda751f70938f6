"""The hub: this process's live subscribers, and the operations they are owed.

Operations arrive from this process's writer (commit listener), from the broker (other
processes) and from the store (gaps, catching up after a broker outage). A sequencer per
workspace turns them into one dense, ordered stream; each operation is encoded once and the
same frame is queued for every subscriber whose filter matches.

A subscription with `since` is served from the store first, then switched to live: it is
registered for live frames only when the replay has caught up, and the short remainder is
read from the store while live frames wait in its queue. Frames at or below what it has
already got are skipped, so the switch has no gap and no duplicate.

Retention may have removed old operations (store/retention.py). A replay that starts below
the workspace's retention mark says so before anything else it sends: a `gap` frame naming
the range whose operations may be missing (SPEC §6, docs/retention.md); what is still stored
follows in order. It is never a silent skip.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections import OrderedDict
from typing import Any, Awaitable, Callable

import anyio
from prometheus_client import Counter, Gauge

from eventgate.auth.keys import ApiKey
from eventgate.broker.base import NODE_ID_LENGTH, Broker, BrokerUnavailable
from eventgate.hub.filters import SubscriptionFilter
from eventgate.hub.frames import (
    Frame,
    event_frame,
    gap_frame,
    heartbeat_frame,
    operation_from_committed,
    welcome_frame,
)
from eventgate.hub.sequencer import WorkspaceSequencer
from eventgate.hub.server_exit import watch_server_exit
from eventgate.hub.subscriber import CHANNEL_DELETED, DISCONNECTED, SHUTDOWN, Subscriber
from eventgate.metrics import registry
from eventgate.store.database import Database
from eventgate.store.streams import latest_seqs, operations_to_fill, operations_to_replay
from eventgate.domain.operations import CommittedOperation

log = logging.getLogger("eventgate.hub")

REPLAY_PAGE = 500
CLIENT_ID = re.compile(r"[0-9a-f]{32}")
FLUSH_SLICE = 256
FRAME_CACHE_BYTES = 16 * 2**20

live_subscribers = Gauge("eventgate_live_subscribers", "Open live subscriptions, by transport (ws, sse)",
                         ["transport"], registry=registry, multiprocess_mode="livesum")
for _transport in ("ws", "sse"):  # both shown from the start, at 0
    live_subscribers.labels(_transport)
frames_queued = Counter("eventgate_live_frames_queued", "Event frames queued for subscribers", registry=registry)
slow_consumers = Counter("eventgate_live_slow_consumers", "Subscribers cut off because their queue was full",
                         registry=registry)

Operation = dict[str, Any]
SendFrame = Callable[[Frame], Awaitable[None]]


class Hub:
    def __init__(self, database: Database, broker: Broker, *, queue_size: int = 1024,
                 heartbeat_seconds: float = 15.0, reconcile_seconds: float = 1.0) -> None:
        self.database = database
        self.broker = broker
        self.queue_size = queue_size
        self.heartbeat_seconds = heartbeat_seconds
        self.reconcile_seconds = reconcile_seconds
        self.sequencers: dict[str, WorkspaceSequencer] = {}
        # workspace → filter → subscribers holding that filter (evaluated once per operation)
        self.groups: dict[str, dict[SubscriptionFilter, set[Subscriber]]] = {}
        self.clients: dict[str, Subscriber] = {}
        self._sessions: dict[str, int] = {}
        self._creating: dict[str, asyncio.Future[WorkspaceSequencer]] = {}
        self._frames: OrderedDict[tuple[str, int], Frame] = OrderedDict()
        self._frame_bytes = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty: list[Subscriber] = []
        self._flush_scheduled = False
        self._stopped = False
        # Set once the server is stopping (before `stop`): new subscriptions end at once.
        self._closing = False
        self._unwatch_exit: Callable[[], None] = lambda: None
        # Told of every operation other processes committed (delivery wakes its dispatchers).
        self.received_listeners: list[Callable[[list[Operation]], None]] = []

    @property
    def node_id(self) -> str:
        return self.broker.node_id

    def new_client_id(self) -> str:
        # The node id first: any process can tell which one holds a client.
        return self.node_id + secrets.token_hex(10)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._heartbeat_loop()))
        self._tasks.append(loop.create_task(self._reconcile_loop()))
        await self.broker.start(self)
        # The app's lifespan shutdown (and so `stop`) runs only once the server's connections
        # are done; live streams never are by themselves, so end them when the stop begins.
        self._unwatch_exit = watch_server_exit(self.close_subscribers)

    def close_subscribers(self) -> None:
        """The server is stopping: end every live subscription (SHUTDOWN), and any new one at once."""
        if not self._closing:
            log.info("server stopping: closing %d live subscriber(s)", len(self.clients))
        self._closing = True
        for subscriber in list(self.clients.values()):
            subscriber.end(SHUTDOWN)

    async def stop(self) -> None:
        self._stopped = True
        self._unwatch_exit()
        self.close_subscribers()
        for task in self._tasks:
            task.cancel()
        for sequencer in self.sequencers.values():
            sequencer.close()
        await self.broker.stop()

    # -- where operations come from ------------------------------------------------------

    def operations_committed(self, committed: list[CommittedOperation]) -> None:
        """Commit listener: runs on the event loop right after each committed batch."""
        operations = [operation_from_committed(c) for c in committed]
        self._offer(operations)
        try:
            self.broker.publish_operations(operations)
        except Exception:  # other processes read what they miss from the store
            log.exception("publishing %d committed operations to the broker failed", len(operations))

    def operations_received(self, operations: list[Operation]) -> None:
        """From the broker: operations committed by other processes."""
        self._offer(operations)
        for listener in self.received_listeners:
            listener(operations)

    def broker_reconnected(self) -> None:
        """After a broker outage anything may have been missed: ask the store."""
        if not self._stopped:
            asyncio.get_running_loop().create_task(self._catch_up_all())

    def _offer(self, operations: list[Operation]) -> None:
        by_workspace: dict[str, list[Operation]] = {}
        for operation in operations:
            if operation["workspace_id"] in self.sequencers:
                by_workspace.setdefault(operation["workspace_id"], []).append(operation)
        for workspace_id, batch in by_workspace.items():
            self.sequencers[workspace_id].offer(batch)

    # -- fan-out -------------------------------------------------------------------------

    def _deliver(self, operation: Operation) -> None:
        """Called by the sequencer, in seq order: queue the frame for every matching subscriber."""
        workspace_id = operation["workspace_id"]
        groups = self.groups.get(workspace_id)
        if not groups:
            return
        frame: Frame | None = None
        queued = 0
        dirty = self._dirty
        for subscription_filter, subscribers in groups.items():
            if not subscribers or not subscription_filter.matches(operation):
                continue
            if frame is None:
                frame = self._frame(workspace_id, operation)
            for subscriber in subscribers:
                if not subscriber.push(frame):
                    slow_consumers.inc()
                elif len(subscriber.queue) == 1:
                    dirty.append(subscriber)
                queued += 1
        if queued:
            frames_queued.inc(queued)
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._dirty and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Soon after frames were queued: hand them to the sockets.

        Every frame queued since the last flush (all the operations of a commit batch, say)
        goes to a subscriber in one write when its socket takes frames directly; otherwise
        its own task is woken to send them. A long list is done in slices, so that requests
        waiting on the event loop get a turn in between.
        """
        dirty = self._dirty
        if len(dirty) > FLUSH_SLICE:
            self._dirty = dirty[FLUSH_SLICE:]
            dirty = dirty[:FLUSH_SLICE]
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._dirty = []
            self._flush_scheduled = False
        for subscriber in dirty:
            queue = subscriber.queue
            if not queue or subscriber.busy or subscriber.ended is not None:
                continue
            direct = subscriber.direct
            if direct is None or not direct.is_writable():
                subscriber.wake()
                continue
            subscriber.queue = []
            position = subscriber.position
            if len(queue) == 1:
                frame = queue[0]
                if frame.seq and frame.seq <= position:
                    continue
                fresh = queue
                last = frame.seq
            else:
                fresh = [f for f in queue if not f.seq or f.seq > position]
                if not fresh:
                    continue
                last = max(f.seq for f in fresh)
            if not direct.write_frames(fresh):
                subscriber.end(DISCONNECTED)
            elif last:
                subscriber.position = subscriber.last_sent = last

    def _frame(self, workspace_id: str, operation: Operation) -> Frame:
        """The operation's frame, encoded once: recent frames are kept for the replays of
        subscribers reconnecting together (after a process died, say)."""
        key = (workspace_id, operation["seq"])
        frame = self._frames.get(key)
        if frame is None:
            frame = self._frames[key] = event_frame(operation)
            self._frame_bytes += len(frame.ws_bytes)
            while self._frame_bytes > FRAME_CACHE_BYTES and len(self._frames) > 1:
                _, evicted = self._frames.popitem(last=False)
                self._frame_bytes -= len(evicted.ws_bytes)
        return frame

    # -- one subscription ----------------------------------------------------------------

    def subscriber(self, workspace_id: str, user_id: str, subscription_filter: SubscriptionFilter,
                   queue_size: int | None = None, *, transport: str, key: ApiKey | None = None) -> Subscriber:
        return Subscriber(self.new_client_id(), user_id, workspace_id, subscription_filter,
                          queue_size or self.queue_size, transport, key)

    def keys_in_use(self) -> dict[str, ApiKey]:
        """The API keys this process's open streams were opened with, by key id."""
        return {s.key.id: s.key for s in self.clients.values() if s.key is not None and s.ended is None}

    def end_streams_of(self, reasons: dict[str, str]) -> int:
        """End every open stream opened with one of these keys (key id → KEY_REVOKED or
        KEY_EXPIRED); returns how many ended."""
        ended = 0
        for subscriber in list(self.clients.values()):
            key = subscriber.key
            if key is not None and subscriber.ended is None and key.id in reasons:
                subscriber.end(reasons[key.id])
                ended += 1
        return ended

    def channels_in_use(self) -> set[str]:
        """The channels this process's open streams are limited to (streams of every channel name none)."""
        named: set[str] = set()
        for subscriber in self.clients.values():
            if subscriber.ended is None and subscriber.filter.channel_ids is not None:
                named.update(subscriber.filter.channel_ids)
        return named

    def end_streams_of_channels(self, deleted: set[str]) -> int:
        """End every open stream limited to channels that are all deleted (CHANNEL_DELETED); a
        stream that also names a channel still there goes on. Returns how many ended."""
        ended = 0
        for subscriber in list(self.clients.values()):
            channel_ids = subscriber.filter.channel_ids
            if subscriber.ended is None and channel_ids and channel_ids <= deleted:
                subscriber.end(CHANNEL_DELETED)
                ended += 1
        return ended

    async def stream(self, subscriber: Subscriber, since: int | None, send: SendFrame) -> str:
        """Serve one subscription until it ends; returns why (subscriber.SLOW, DISCONNECTED, SHUTDOWN).

        `send` writes one frame to the connection (and may wait for the peer to read); when
        `subscriber.direct` is set, event frames go to the socket as ready-made bytes instead.
        """
        if self._stopped or self._closing:
            return SHUTDOWN
        workspace_id = subscriber.workspace_id
        sequencer = await self._attach(workspace_id)
        self.clients[subscriber.client_id] = subscriber
        subscribed = live_subscribers.labels(subscriber.transport)
        subscribed.inc()
        if self._closing or self._stopped:  # the stop began while the sequencer was attached
            subscriber.end(SHUTDOWN)
        subscriber.busy = True  # until the live loop: replayed frames go first
        try:
            event_types = list(subscriber.filter.event_types or [])
            if since is None:
                start = self._register(subscriber, sequencer)
                subscriber.position = subscriber.last_sent = start
                await send(welcome_frame(subscriber.client_id, subscriber.user_id, event_types, start, start))
            else:
                subscriber.position = subscriber.last_sent = since
                await send(welcome_frame(subscriber.client_id, subscriber.user_id, event_types, sequencer.last,
                                         since))
                told = await self._replay(subscriber, send, until=None, told=0)
                if subscriber.ended is None:
                    registered_at = self._register(subscriber, sequencer)
                    if subscriber.position < registered_at:
                        await self._replay(subscriber, send, until=registered_at, told=told)
            while subscriber.ended is None:
                frames = subscriber.take()
                if frames:
                    await self._write(subscriber, frames, send)
                    continue
                subscriber.busy = False
                await subscriber.wait()
                subscriber.busy = True
            return subscriber.ended
        finally:
            subscribed.dec()
            self._detach(subscriber)

    @staticmethod
    async def _write(subscriber: Subscriber, frames: list[Frame], send: SendFrame) -> None:
        direct = subscriber.direct
        if direct is not None:
            if not direct.is_writable():
                await direct.wait_writable()
            if direct.write_frames(frames):
                subscriber.sent(frames)
            else:
                subscriber.end(DISCONNECTED)
            return
        for frame in frames:
            await send(frame)
            subscriber.sent([frame])

    async def _replay(self, subscriber: Subscriber, send: SendFrame, until: int | None, told: int) -> int:
        """Send stored operations after subscriber.position (up to `until`, or until caught up).

        `told`: the retention mark a gap frame has already named to this subscriber (0: none).
        A page read from below the mark starts with a gap frame (unless one named that mark
        already). Returns the mark named by now."""
        workspace_id = subscriber.workspace_id
        while subscriber.ended is None:
            limit = REPLAY_PAGE if until is None else min(REPLAY_PAGE, until - subscriber.position)
            if limit <= 0:
                return told
            operations, mark = await self._read_replay(workspace_id, subscriber.position, limit)
            frames = []
            if mark > subscriber.position and mark > told:
                frames.append(gap_frame(subscriber.position, mark))
                told = mark
            for operation in operations:
                if until is not None and operation["seq"] > until:
                    break
                if subscriber.filter.matches(operation):
                    frames.append(self._frame(workspace_id, operation))
            if frames:
                await self._write(subscriber, frames, send)
                if subscriber.ended is not None:
                    return told
            if operations:
                scanned = operations[-1]["seq"] if until is None else min(operations[-1]["seq"], until)
                subscriber.position = max(subscriber.position, scanned)
            if len(operations) < limit:
                return told
        return told

    def _register(self, subscriber: Subscriber, sequencer: WorkspaceSequencer) -> int:
        """Start queueing live frames for the subscriber; returns the seq they start after."""
        groups = self.groups.setdefault(subscriber.workspace_id, {})
        groups.setdefault(subscriber.filter, set()).add(subscriber)
        return sequencer.last

    async def _attach(self, workspace_id: str) -> WorkspaceSequencer:
        self._sessions[workspace_id] = self._sessions.get(workspace_id, 0) + 1
        try:
            sequencer = self.sequencers.get(workspace_id)
            if sequencer is not None:
                return sequencer
            creating = self._creating.get(workspace_id)
            if creating is not None:
                return await asyncio.shield(creating)
            creating = self._creating[workspace_id] = asyncio.get_running_loop().create_future()
            try:
                latest = (await self._latest_seqs([workspace_id])).get(workspace_id, 0)
            except BaseException as error:
                creating.set_exception(error)
                creating.exception()  # retrieved here; waiters re-raise it
                raise
            finally:
                self._creating.pop(workspace_id, None)
            sequencer = WorkspaceSequencer(workspace_id, latest, self._deliver, self._read_after)
            self.sequencers[workspace_id] = sequencer
            creating.set_result(sequencer)
            return sequencer
        except BaseException:
            self._release(workspace_id)
            raise

    def _detach(self, subscriber: Subscriber) -> None:
        groups = self.groups.get(subscriber.workspace_id)
        if groups is not None:
            members = groups.get(subscriber.filter)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del groups[subscriber.filter]
            if not groups:
                del self.groups[subscriber.workspace_id]
        if self.clients.get(subscriber.client_id) is subscriber:
            del self.clients[subscriber.client_id]
        self._release(subscriber.workspace_id)

    def _release(self, workspace_id: str) -> None:
        remaining = self._sessions.get(workspace_id, 1) - 1
        if remaining > 0:
            self._sessions[workspace_id] = remaining
            return
        self._sessions.pop(workspace_id, None)
        sequencer = self.sequencers.pop(workspace_id, None)
        if sequencer is not None:
            sequencer.close()

    # -- unsubscribe ---------------------------------------------------------------------

    async def unsubscribe(self, client_id: str, workspace_id: str, user_id: str, codes: list[str]) -> dict[str, Any]:
        """Narrow a live subscription, wherever it is held. Raises BrokerUnavailable."""
        if client_id in self.clients:
            return self.unsubscribe_here(client_id, workspace_id, user_id, codes)
        node_id = client_id[:NODE_ID_LENGTH]
        if not CLIENT_ID.fullmatch(client_id) or node_id == self.node_id:
            return {"result": "unknown"}  # not an id this deployment hands out, or not here
        reply = await self.broker.request(node_id, {"kind": "unsubscribe", "client_id": client_id,
                                                    "workspace_id": workspace_id, "user_id": user_id,
                                                    "event_types": codes})
        return reply if reply is not None else {"result": "unknown"}

    def unsubscribe_here(self, client_id: str, workspace_id: str, user_id: str, codes: list[str]) -> dict[str, Any]:
        subscriber = self.clients.get(client_id)
        if subscriber is None or subscriber.workspace_id != workspace_id or subscriber.ended is not None:
            return {"result": "unknown"}
        if subscriber.user_id != user_id:
            return {"result": "forbidden"}
        narrowed = subscriber.filter.without_types(codes)
        groups = self.groups.get(workspace_id)
        if groups is not None and subscriber in groups.get(subscriber.filter, ()):
            members = groups[subscriber.filter]
            members.discard(subscriber)
            if not members:
                del groups[subscriber.filter]
            groups.setdefault(narrowed, set()).add(subscriber)
        subscriber.filter = narrowed
        return {"result": "ok", "event_types": list(narrowed.event_types or []),
                "excluded_event_types": list(narrowed.excluded_types),
                "everything": narrowed.event_types is None}

    async def command_received(self, command: dict[str, Any]) -> dict[str, Any]:
        """A request from another process (through the broker)."""
        if command.get("kind") == "unsubscribe":
            return self.unsubscribe_here(str(command.get("client_id")), str(command.get("workspace_id")),
                                         str(command.get("user_id")), list(command.get("event_types") or []))
        return {"result": "unsupported"}

    # -- periodic work -------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            for workspace_id, groups in list(self.groups.items()):
                sequencer = self.sequencers.get(workspace_id)
                if sequencer is None:
                    continue
                frame = heartbeat_frame(sequencer.last)
                for subscribers in groups.values():
                    for subscriber in subscribers:
                        if not subscriber.queue and subscriber.push(frame):  # a busy stream needs none
                            self._dirty.append(subscriber)
                self._schedule_flush()

    async def _reconcile_loop(self) -> None:
        # A safety net under the broker: whatever it lost is found in the store within a second.
        while True:
            await asyncio.sleep(self.reconcile_seconds)
            await self._catch_up_all()

    async def _catch_up_all(self) -> None:
        if not self.sequencers:
            return
        try:
            latest = await self._latest_seqs(list(self.sequencers))
        except Exception as error:
            log.warning("reading the latest seqs failed: %s", error)
            return
        for workspace_id, seq in latest.items():
            sequencer = self.sequencers.get(workspace_id)
            if sequencer is not None:
                sequencer.caught_up_to(seq)

    # -- store access (off the event loop) ----------------------------------------------

    async def _read_after(self, workspace_id: str, after_seq: int, limit: int) -> tuple[list[Operation], int]:
        """For the sequencer: a page of operations and the seq through which the store is complete."""
        def read() -> tuple[list[Operation], int]:
            with self.database.reader.connect() as connection:
                return operations_to_fill(connection, workspace_id, after_seq, limit)

        return await anyio.to_thread.run_sync(read)

    async def _read_replay(self, workspace_id: str, after_seq: int, limit: int) -> tuple[list[Operation], int]:
        """For a replay: a page of operations and the workspace's retention mark."""
        def read() -> tuple[list[Operation], int]:
            with self.database.reader.connect() as connection:
                return operations_to_replay(connection, workspace_id, after_seq, limit)

        return await anyio.to_thread.run_sync(read)

    async def _latest_seqs(self, workspace_ids: list[str]) -> dict[str, int]:
        def read() -> dict[str, int]:
            with self.database.reader.connect() as connection:
                return latest_seqs(connection, workspace_ids)

        return await anyio.to_thread.run_sync(read)


__all__ = ["Hub", "BrokerUnavailable"]
