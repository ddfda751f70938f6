"""Reading ntfy subscriptions in tests: a stream's raw bytes, line by line or event by event,
read off a real socket by a thread of its own."""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
from typing import Any

import httpx


def basic(secret: str, user: str = "phone") -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def auth_parameter(header: str) -> str:
    """ntfy's ?auth=: the Authorization header, base64 (URL-safe, without padding)."""
    return base64.urlsafe_b64encode(header.encode()).decode().rstrip("=")


class NtfyStream:
    """An open `GET /{topics}/{json|sse|raw}`; the body's bytes as they arrive."""

    def __init__(self, base_url: str, path: str, *, headers: dict[str, str] | None = None,
                 params: dict[str, str] | None = None) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(60.0))
        self._context = self.client.stream("GET", path, headers=headers, params=params)
        self.response = self._context.__enter__()
        self.buffer = b""
        self.ended = False
        self._chunks: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for chunk in self.response.iter_raw():
                self._chunks.put(chunk)
        except Exception:
            pass
        finally:
            self._chunks.put(None)

    def _fill(self, deadline: float) -> bool:
        """Wait for more bytes; False when the stream ended."""
        if self.ended:
            return False
        try:
            chunk = self._chunks.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"nothing more within the time; have {self.buffer!r}") from None
        if chunk is None:
            self.ended = True
            return False
        self.buffer += chunk
        return True

    def line(self, timeout: float = 30) -> bytes:
        """The next line, with its newline."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if not self._fill(deadline):
                raise AssertionError(f"the stream ended; left: {self.buffer!r}")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def block(self, timeout: float = 30) -> bytes:
        """The next Server-Sent Event, with its blank line."""
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.buffer:
            if not self._fill(deadline):
                raise AssertionError(f"the stream ended; left: {self.buffer!r}")
        block, _, self.buffer = self.buffer.partition(b"\n\n")
        return block + b"\n\n"

    def event(self, timeout: float = 30) -> dict[str, Any]:
        """The next JSON line, decoded."""
        return json.loads(self.line(timeout))

    def messages(self, count: int, timeout: float = 30, *, skip: tuple[str, ...] = ("keepalive",)) -> list[dict]:
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            event = self.event(max(0.1, deadline - time.monotonic()))
            if event["event"] not in skip:
                found.append(event)
        return found

    def wait_for_end(self, timeout: float = 30) -> bytes:
        """Everything up to the end of the stream."""
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            pass
        rest, self.buffer = self.buffer, b""
        return rest

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "NtfyStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
