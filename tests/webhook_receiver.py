"""A real HTTP server on loopback that takes webhooks, for the delivery tests.

It records every request (method, path, headers, body) and answers what its `answer` function
says: a status (and headers), or "hang" (never answer), or "close" (drop the connection).

Its URL has a path prefix of its own. A request under another path is for a destination of an
earlier test whose receiver had this port: it is answered 410 (which disables that destination)
and not recorded.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import msgspec


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


Answer = Callable[[Received], Any]  # → int | (int, headers) | "hang" | "close"


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    thread: threading.Thread
    received: list[Received] = field(default_factory=list)
    answer: Answer = lambda request: 200  # noqa: E731
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    prefix: str = field(default_factory=lambda: "/r-" + secrets.token_hex(4))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}"

    def requests(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.requests()
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"the receiver got {len(self.requests())} requests, not {count}, in {timeout} s")

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def start_receiver(answer: Answer | None = None) -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 — the http.server name
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request (kill -9): nothing was delivered
                self.close_connection = True
                return
            receiver = holder["receiver"]
            if not self.path.startswith(receiver.prefix):
                self.send_response(410)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            request = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                               time.monotonic())
            with receiver.lock:
                receiver.received.append(request)
            reply = receiver.answer(request)
            if reply == "hang":
                receiver.released.wait(60)
                self.close_connection = True
                return
            if reply == "close":
                self.close_connection = True
                self.connection.close()
                return
            status, headers = (reply, {}) if isinstance(reply, int) else reply
            payload = b'{"ok": true}'
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    receiver = Receiver(server, thread)
    if answer is not None:
        receiver.answer = answer
    holder["receiver"] = receiver
    thread.start()
    return receiver


def attempts(server: Any, destination_id: str, *, at_least: int = 1, timeout: float = 15) -> list[Any]:
    """A destination's recorded delivery attempts, oldest first, once there are `at_least` (bounded wait)."""
    from eventgate.store.destinations import list_attempts

    deadline = time.monotonic() + timeout
    while True:
        with server.database.reader.connect() as connection:
            found = list(reversed(list_attempts(connection, destination_id, limit=200)))
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
