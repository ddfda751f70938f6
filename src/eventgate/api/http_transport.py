"""HTTP/1.1 as uvicorn's httptools protocol serves it, with one change: a response's head and
its body leave in one socket write instead of two.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`, and
the body when it sends `http.response.body`: two send() system calls per response. On a busy
server each one holds the event loop thread (and the GIL) for a loopback TCP round of work; in
bench/ingest.py the head's write alone was 9 % of the time the GIL was held. Here the head is
held back until the body follows, which is almost always in the same loop iteration; if the
body is late (a stream that starts with a pause), the head still leaves at the end of that
iteration, so nothing waits for it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeadWithBody:
    """The transport as one response's cycle sees it: the first write (the head) is held until
    the next one, or until the loop comes round."""

    __slots__ = ("transport", "loop", "held", "first")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.held: bytes | None = None
        self.first = True

    def write(self, data: bytes) -> None:
        if self.first:
            self.first = False
            self.held = data
            self.loop.call_soon(self.flush)
            return
        held = self.held
        if held is not None:
            self.held = None
            self.transport.writelines((held, data))
        else:
            self.transport.write(data)

    def flush(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def close(self) -> None:
        self.flush()
        self.transport.close()


class OneWriteHttpProtocol(HttpToolsProtocol):
    """`eventgate serve` passes this to uvicorn as its HTTP protocol."""

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        # A WebSocket upgrade creates no cycle; the cycle's task has not run yet, so its
        # transport can still be swapped.
        if cycle is not None and cycle is not before:
            cycle.transport = _HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]
