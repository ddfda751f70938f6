"""HTTP/1.1 as uvicorn's httptools protocol serves it, with one change: a response's head and
its body leave in one socket write instead of two.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`, and
the body when it sends `http.response.body`: two send() system calls per response. On a busy
server each one holds the event loop thread (and the GIL) for a loopback TCP round of work; in
bench/ingest.py the head's write alone was 9 % of the time the GIL was held. Here the head is
held back until the body follows, which is almost always in the same loop iteration; if the
body is late (a stream that starts with a pause), the head still leaves at the end of that
iteration, so nothing waits for it.

It also bounds the request head. httptools puts no limit on the URL or on header sizes: it
collects a header's value by concatenating the pieces each read delivers, so one 100 MB header
held the event loop for seconds while every other connection waited. Here the URL, the headers
and the time a head may take to arrive are capped; past a cap the server answers at once (414,
431 or 408, Connection: close), stops parsing, discards what follows without buffering it, and
closes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# The request line's target. Browsers and proxies keep URLs well under 8 KiB and eventgate's
# routes are short; 16 KiB is roomy for any real query string yet stops an unbounded one
# (httptools would collect it all in memory). Beyond it: 414 URI Too Long.
MAX_URL_BYTES = 16 * 1024

# Every header name and value of one request, added up. Real requests (cookies, bearer tokens)
# carry a few KiB; 16 KiB leaves headroom (nginx's default allows 8 KiB per line) and keeps a
# client from making the parser collect and re-concatenate megabytes. Beyond it: 431.
MAX_HEADER_BYTES = 16 * 1024

# httptools hands a header to us only once its line is complete, so a header still arriving is
# invisible to the count above. As a backstop the raw bytes of a head in progress (request
# line, names, values, colons, CRLFs) are counted as they arrive; past the two caps plus this
# much for the framing, the head is refused with 431 without waiting for its end.
HEAD_FRAMING_ALLOWANCE = 8 * 1024
MAX_HEAD_BYTES = MAX_URL_BYTES + MAX_HEADER_BYTES + HEAD_FRAMING_ALLOWANCE

# A request head must be complete this many seconds after its first byte, or the connection
# gets 408 and is closed: a client dribbling a head byte by byte (slowloris) would otherwise hold
# its connection for ever. Idle keep-alive connections between requests are not affected; they
# stay under uvicorn's timeout_keep_alive.
HEAD_TIMEOUT_SECONDS = 10.0

# After a refusal the server half-closes and discards (never buffers) whatever the client still
# sends, for at most this long or this many bytes, then closes. Closing at once with unread
# data pending makes the kernel send a reset, which can destroy the answer before the client
# has read it.
LINGER_SECONDS = 1.0
LINGER_MAX_BYTES = 1024 * 1024


class _HeadRefused(Exception):
    """Raised from a parser callback to stop httptools on the spot."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _url_too_long() -> _HeadRefused:
    return _HeadRefused(414, "uri_too_long", f"the request URL must be at most {MAX_URL_BYTES} bytes")


def _headers_too_large() -> _HeadRefused:
    return _HeadRefused(431, "request_header_fields_too_large",
                        f"the request headers must be at most {MAX_HEADER_BYTES} bytes")


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


# A streaming response's app finds an HttpStreamWriter under this scope extension.
STREAM_EXTENSION = "eventgate.http_stream"


class HttpStreamWriter:
    """A streaming response's body written straight to the socket, for the live streams: the
    hub writes one operation's bytes to thousands of connections in one loop (as it does for
    the WebSocket) instead of waking one task per connection to call ASGI's `send`. The head
    (and anything sent through `send`) goes first: both write through the cycle's transport."""

    __slots__ = ("cycle",)

    def __init__(self, cycle: Any) -> None:
        self.cycle = cycle

    def write(self, body: bytes) -> bool:
        """Write body bytes (chunk-framed when the response is chunked); False once the
        response or the connection has ended."""
        cycle = self.cycle
        if cycle.disconnected or not cycle.response_started or cycle.response_complete \
                or cycle.transport.is_closing():
            return False
        if body:
            cycle.transport.write(b"%x\r\n%b\r\n" % (len(body), body) if cycle.chunked_encoding else body)
        return True

    def is_writable(self) -> bool:
        return not self.cycle.flow.write_paused

    async def wait_writable(self) -> None:
        await self.cycle.flow.drain()


class OneWriteHttpProtocol(HttpToolsProtocol):
    """`eventgate serve` passes this to uvicorn as its HTTP protocol."""

    # Class attributes so a test server can use a subclass with a shorter timeout.
    head_timeout: float = HEAD_TIMEOUT_SECONDS
    linger_seconds: float = LINGER_SECONDS
    # How long a new connection may stay silent before its first byte; None: uvicorn's
    # timeout_keep_alive, as for a connection idle between requests. (uvicorn arms that timer
    # only after a response, so a connection that never sent a byte was held for ever.)
    first_byte_timeout: float | None = None

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_bytes = 0  # raw bytes of the head in progress seen by data_received
        self._url_bytes = 0
        self._header_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: _HeadRefused | None = None  # set once the connection is being refused
        self._refusal_sent = False
        self._discarded = 0
        self._linger_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        timeout = self.first_byte_timeout if self.first_byte_timeout is not None else self.timeout_keep_alive
        self.timeout_keep_alive_task = self.loop.call_later(timeout, self.timeout_keep_alive_handler)

    # -- reading ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            self._discard(len(data))
            return
        self._unset_keepalive_if_required()
        view = memoryview(data)
        while view:
            if self._in_head:
                room = MAX_HEAD_BYTES - self._head_bytes
                if room <= 0:
                    self._refuse(_headers_too_large())
                    return
                piece, view = view[:room], view[room:]
                self._head_bytes += len(piece)
            else:
                # A head that begins inside this read is counted from the next read on: the
                # parser sees at most one read's worth (bounded by the transport) uncounted.
                piece, view = view, view[len(view):]
            if not self._feed(piece):
                return
            if self._in_head and view and self._head_bytes >= MAX_HEAD_BYTES:
                self._refuse(_headers_too_large())
                return

    def _feed(self, data: memoryview) -> bool:
        """uvicorn's data_received for one piece; False once the connection is done with."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            refusal = error.__context__ or error.__cause__
            if isinstance(refusal, _HeadRefused):
                self._refuse(refusal)
                return False
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self._cancel_head_timer()
            self.send_400_response(msg)
            return False
        except httptools.HttpParserUpgrade:
            self._cancel_head_timer()
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        return True

    # -- parser callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._url_bytes = 0
        self._header_bytes = 0
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > MAX_URL_BYTES:
            raise _url_too_long()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _headers_too_large()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        # A WebSocket upgrade creates no cycle; the cycle's task has not run yet, so its
        # transport can still be swapped.
        if cycle is not None and cycle is not before:
            cycle.transport = _HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]
            cycle.scope.setdefault("extensions", {})[STREAM_EXTENSION] = HttpStreamWriter(cycle)

    # -- refusing a head ------------------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self._refusal is not None or self.transport.is_closing():
            return
        self._refuse(_HeadRefused(408, "request_timeout",
                                  f"the request head must arrive within {self.head_timeout:g} seconds"))

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _response_in_progress(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _refuse(self, refusal: _HeadRefused) -> None:
        """Stop parsing this connection; answer once earlier pipelined responses are out."""
        if self._refusal is not None:
            return
        self._refusal = refusal
        self._in_head = False
        self._cancel_head_timer()
        self.logger.warning("Refused a request head: %s", refusal.message)
        if not self._response_in_progress():
            self._send_refusal()
        # else: on_response_complete sends it after the responses already owed.

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refusal is not None and not self._refusal_sent and not self._response_in_progress():
            self._unset_keepalive_if_required()
            self._send_refusal()

    def _send_refusal(self) -> None:
        refusal = self._refusal
        assert refusal is not None
        self._refusal_sent = True
        if self.transport.is_closing():
            return
        body = json.dumps({"success": False, "data": None, "error": refusal.message,
                           "error_code": refusal.code}).encode()
        content = [STATUS_LINE[refusal.status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"content-type: application/json\r\n",
                        b"content-length: ", str(len(body)).encode("ascii"), b"\r\n",
                        b"connection: close\r\n\r\n", body])
        self.transport.write(b"".join(content))
        # Reading resumes only to throw bytes away; the pipelined requests queued, if any, are
        # never run.
        self.pipeline.clear()
        self.flow.resume_reading()
        try:
            self.transport.write_eof()
        except (NotImplementedError, AttributeError, RuntimeError, OSError):  # TLS cannot half-close
            self.transport.close()
            return
        self._linger_timer = self.loop.call_later(self.linger_seconds, self._end_linger)

    def _discard(self, count: int) -> None:
        self._discarded += count
        if self._refusal_sent and self._discarded > LINGER_MAX_BYTES:
            self._end_linger()
        elif not self._refusal_sent:
            # Still owing earlier responses: stop reading rather than pile the rest up.
            self.flow.pause_reading()

    def _end_linger(self) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)
