"""One live connection as the hub sees it: its filter, its bounded queue, how far it has got.

The hub puts frames on the queue synchronously and never waits: a subscriber whose queue is
full is ended as a slow consumer (its queue is dropped), so nobody else ever waits for it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable

from eventgate.hub.filters import SubscriptionFilter
from eventgate.hub.frames import Frame

SLOW = "slow"
DISCONNECTED = "disconnected"
SHUTDOWN = "shutdown"


class Subscriber:
    __slots__ = ("client_id", "user_id", "workspace_id", "filter", "limit", "queue", "position",
                 "last_sent", "ended", "on_end", "_waiter")

    def __init__(self, client_id: str, user_id: str, workspace_id: str, subscription_filter: SubscriptionFilter,
                 limit: int) -> None:
        self.client_id = client_id
        self.user_id = user_id
        self.workspace_id = workspace_id
        self.filter = subscription_filter
        self.limit = max(1, limit)
        self.queue: deque[Frame] = deque()
        # Every operation up to `position` has been sent or did not match: frames at or below
        # it are duplicates. `last_sent` is the seq of the last operation frame sent (or the
        # starting point): the resume point named when a slow consumer is cut off.
        self.position = 0
        self.last_sent = 0
        self.ended: str | None = None
        self.on_end: Callable[[str], None] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def push(self, frame: Frame) -> bool:
        """Queue a frame; False when that overflowed the queue (the subscriber is then ended)."""
        if self.ended is not None:
            return True
        if len(self.queue) >= self.limit:
            self.end(SLOW)
            return False
        self.queue.append(frame)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    def end(self, reason: str) -> None:
        if self.ended is not None:
            return
        self.ended = reason
        self.queue.clear()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self.on_end is not None:
            self.on_end(reason)

    async def next_frame(self) -> Frame | None:
        """The next queued frame, waiting for one; None once the subscription has ended."""
        while not self.queue:
            if self.ended is not None:
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            await waiter
        if self.ended is not None:
            return None
        return self.queue.popleft()
