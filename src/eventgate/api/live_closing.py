"""How a live connection ends, for WebSocket and SSE alike: the close codes, and the grace a
slow consumer gets to read what is already on its way before it is dropped, and the reason
given when the stream's API key is revoked or expires, or its channels are deleted."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

from eventgate.hub.subscriber import CHANNEL_DELETED, KEY_EXPIRED, KEY_REVOKED, SHUTDOWN, SLOW, Subscriber

# The stream's API key was revoked or expired: reconnecting with the same key is refused (401).
KEY_ENDED_CODE = 4001
KEY_ENDED_REASONS = {KEY_REVOKED: "api key revoked", KEY_EXPIRED: "api key expired"}
# Every channel the stream is limited to was deleted: reconnecting the same way is pointless.
CHANNEL_DELETED_CODE = 4004
# The streams the server ends for good, whatever the transport: reason → (close code, text).
ENDED_FOR_GOOD = {
    **{reason: (KEY_ENDED_CODE, text) for reason, text in KEY_ENDED_REASONS.items()},
    CHANNEL_DELETED: (CHANNEL_DELETED_CODE, "channel deleted"),
}
SLOW_CONSUMER_CODE = 4008
INTERNAL_ERROR_CODE = 1011
SERVICE_RESTART_CODE = 1012
# How long a slow consumer's connection may take to read what is already on its way and the
# close frame; after that the connection is given up without waiting any longer.
SLOW_CLOSE_GRACE_SECONDS = 30.0
# When the server stops (or the stream's key ends), each connection gets this long to take the
# close frame (WebSocket 1012 or 4001, SSE `event: close`) before it is given up: the process
# must be gone well within a container's stop timeout, whatever a client that stopped reading does.
SHUTDOWN_CLOSE_GRACE_SECONDS = 1.0


def slow_consumer_reason(subscriber: Subscriber) -> str:
    return f"slow consumer; last seq {subscriber.last_sent}"


@contextlib.asynccontextmanager
async def slow_close_deadline(subscriber: Subscriber) -> AsyncIterator[None]:
    """Runs the body without a time limit until the hub ends the subscriber as slow (or because
    the server stops, its key is revoked or expires, or its channels are deleted); from then on the body has
    SLOW_CLOSE_GRACE_SECONDS left (or SHUTDOWN_CLOSE_GRACE_SECONDS), after which it raises
    TimeoutError."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(None) as deadline:
        def on_end(reason: str) -> None:
            if reason == SLOW:
                deadline.reschedule(loop.time() + SLOW_CLOSE_GRACE_SECONDS)
            elif reason == SHUTDOWN or reason in ENDED_FOR_GOOD:
                deadline.reschedule(loop.time() + SHUTDOWN_CLOSE_GRACE_SECONDS)

        subscriber.on_end = on_end
        try:
            yield
        finally:
            subscriber.on_end = None
