"""The WebSocket protocol `eventgate serve` gives uvicorn: its sans-I/O protocol, made to carry
ten thousand live subscribers in one process.

Two things differ from uvicorn's own `websockets-sansio` protocol:

- The `eventgate.frames` ASGI extension. A server frame is not masked, so the bytes of one
  event frame are the same for every subscriber: the hub frames each operation once and
  writes those bytes straight to the socket of every subscriber that can take them, several
  frames in one write when they queue up (instead of an ASGI message, a websockets frame and a
  write per frame per subscriber). Flow control stays the transport's: while a socket's
  buffer is full, nothing is written to it and frames wait in the subscriber's bounded queue.
- Less memory per connection: a light inbox and writable flag instead of asyncio.Queue and
  asyncio.Event (four deques between them), and the handshake request and response are
  dropped once the connection is accepted.

Apps that do not look for the extension see uvicorn's protocol unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from eventgate.hub.frames import Frame
from eventgate.hub.subscriber import joined

EXTENSION = "eventgate.frames"


class _Inbox:
    """The few asyncio.Queue operations uvicorn uses, for one reader."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class _Flag:
    """The few asyncio.Event operations uvicorn uses (writable or not), for few waiters."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter
        return True


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]
        self._on_lost: Callable[[], None] | None = None
        self._discard_incoming = False

    # -- the extension, as the app sees it ------------------------------------------------

    def write_frames(self, frames: list[Frame]) -> bool:
        """Write the frames' ready-made WebSocket bytes; False once the connection is closing or gone."""
        if self.close_sent or self.disconnected or self.transport.is_closing():
            return False
        self.transport.write(joined(frames))
        return True

    def is_writable(self) -> bool:
        return self.writable.is_set()

    async def wait_writable(self) -> None:
        await self.writable.wait()

    def on_lost(self, callback: Callable[[], None] | None) -> None:
        """Call `callback` once when the connection closes (instead of reading receive())."""
        self._on_lost = callback
        if callback is not None and (self.disconnected or self.transport.is_closing()):
            self._lost()

    def discard_incoming(self) -> None:
        """The app will not read messages: drop them instead of pausing the socket for them."""
        self._discard_incoming = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    # -- uvicorn's hooks ------------------------------------------------------------------

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = {"connection": self}

    def send_receive_event_to_app(self) -> None:
        if self._discard_incoming:
            self.frames = []
            return
        super().send_receive_event_to_app()

    def handle_close(self, event: Any) -> None:
        super().handle_close(event)
        self._lost()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._lost()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # Only the handshake needed these; thousands of idle connections keep the memory.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]

    def _lost(self) -> None:
        callback, self._on_lost = self._on_lost, None
        if callback is not None:
            callback()
