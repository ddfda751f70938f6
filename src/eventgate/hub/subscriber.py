"""One live connection as the hub sees it: its filter, its bounded queue, how far it has got.

The hub puts frames on the queue synchronously and never waits: a subscriber whose queue is
full is ended as a slow consumer (its queue is dropped), so nobody else ever waits for it.
The queue is a plain list (an empty deque costs 600 bytes, times ten thousand connections).
"""

from __future__ import annotations

import asyncio
from typing import Callable, Protocol

from eventgate.auth.keys import ApiKey
from eventgate.hub.filters import SubscriptionFilter
from eventgate.hub.frames import Frame

SLOW = "slow"
DISCONNECTED = "disconnected"
SHUTDOWN = "shutdown"
# The API key the subscription was opened with was revoked (or deleted), or it expired.
KEY_REVOKED = "key_revoked"
KEY_EXPIRED = "key_expired"
# Every channel the subscription is limited to was deleted: nothing new can ever match it.
CHANNEL_DELETED = "channel_deleted"


class DirectConnection(Protocol):
    """A connection the hub writes frames to itself, without waking the subscriber's task: a
    WebSocket takes their ready-made bytes (api.live_transport), an ntfy stream its own
    rendering of them (api.ntfy.subscribe). False once the connection is gone."""

    def write_frames(self, frames: list[Frame]) -> bool: ...

    def is_writable(self) -> bool: ...

    async def wait_writable(self) -> None: ...


class Subscriber:
    __slots__ = ("client_id", "user_id", "workspace_id", "key", "filter", "limit", "queue", "position",
                 "last_sent", "ended", "on_end", "direct", "busy", "transport", "_waiter")

    def __init__(self, client_id: str, user_id: str, workspace_id: str, subscription_filter: SubscriptionFilter,
                 limit: int, transport: str, key: ApiKey | None = None) -> None:
        self.client_id = client_id
        self.user_id = user_id
        self.workspace_id = workspace_id
        # The key the stream was opened with (shared, not copied): when it is revoked or
        # expires, the stream ends.
        self.key = key
        self.filter = subscription_filter
        self.limit = max(1, limit)
        self.queue: list[Frame] = []
        # Every operation up to `position` has been sent or did not match: frames at or below
        # it are duplicates. `last_sent` is the seq of the last operation frame sent (or the
        # starting point): the resume point named when a slow consumer is cut off.
        self.position = 0
        self.last_sent = 0
        self.ended: str | None = None
        self.on_end: Callable[[str], None] | None = None
        # Set when frames can be written to the socket directly (see Hub.flush).
        self.direct: DirectConnection | None = None
        # True while the subscriber's own task is writing (replay, backpressure): then only it writes.
        self.busy = True
        self.transport = transport  # "ws" or "sse", for the subscriber gauge
        self._waiter: asyncio.Future[None] | None = None

    def push(self, frame: Frame) -> bool:
        """Queue a frame; False when that overflowed the queue (the subscriber is then ended)."""
        if self.ended is not None:
            return True
        if len(self.queue) >= self.limit:
            self.end(SLOW)
            return False
        self.queue.append(frame)
        return True

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def end(self, reason: str) -> None:
        if self.ended is not None:
            return
        self.ended = reason
        self.queue = []
        self.wake()
        if self.on_end is not None:
            self.on_end(reason)

    async def wait(self) -> None:
        """Until frames are queued for this task to write, or the subscription ends."""
        while not self.queue and self.ended is None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            await waiter

    def take(self) -> list[Frame]:
        """Every frame not yet sent (deduplicated), emptying the queue."""
        frames, self.queue = self.queue, []
        position = self.position
        return [f for f in frames if not f.seq or f.seq > position]

    def sent(self, frames: list[Frame]) -> None:
        last = max(frame.seq for frame in frames)
        if last > self.position:
            self.position = self.last_sent = last


def joined(frames: list[Frame]) -> bytes:
    if len(frames) == 1:
        return frames[0].ws_bytes
    return b"".join(frame.ws_bytes for frame in frames)


