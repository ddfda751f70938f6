"""`Client`: create, update and close events, read them, follow the live stream (blocking)."""

from __future__ import annotations

import time
from typing import Any, Iterator

import httpx

from eventgate.client.client_settings import (
    USER_AGENT,
    ClientSettings,
    answer_of,
    is_transient,
    problem_of,
    unavailable,
)
from eventgate.client.errors import ServerUnavailable
from eventgate.client.live_stream import SILENCE_TIMEOUT, Gap, StreamPosition, subscribe_url
from eventgate.client.producer_requests import Receipt, producer_request, receipt_of
from eventgate.client.retry_policy import Backoff, retry_after_seconds


class Client(ClientSettings):
    """A blocking client; use it in a `with` block or call `disconnect()` when done.

    >>> with Client("http://127.0.0.1:8080", channel=CHANNEL, password=PASSWORD) as events:
    ...     event_id = events.create(title="Nightly backup", message="copying /srv")
    ...     events.close(event_id, message="done")
    """

    def __init__(self, url: str = "http://127.0.0.1:8080", **settings: Any) -> None:
        super().__init__(url, **settings)
        self._http = httpx.Client(base_url=self.url, timeout=self.timeout, headers={"User-Agent": USER_AGENT})

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def disconnect(self) -> None:
        """Close the client's connections (`close()` closes events)."""
        self._http.close()

    # -- producing ---------------------------------------------------------------------------

    def create(self, **fields: Any) -> str:
        """Open an event; returns its id. Fields as the producer routes name them (title,
        message, status, severity, event_type, tags, attrs, …; op_id to choose one)."""
        return self.send("create", None, **fields).event_id

    def update(self, event_id: str, **fields: Any) -> str:
        return self.send("update", event_id, **fields).event_id

    def close(self, event_id: str, **fields: Any) -> str:
        return self.send("close", event_id, **fields).event_id

    def send(self, kind: str, event_id: str | None = None, **fields: Any) -> Receipt:
        """One create, update or close, retried with the same op_id until it is acknowledged."""
        request = producer_request(kind, self.channel, self.password, event_id, fields)
        reply = self._request("POST", request.path, json=request.body, headers=self.producer_headers())
        return receipt_of(request, answer_of(reply))

    # -- reading -----------------------------------------------------------------------------

    def get(self, event_id: str) -> dict[str, Any]:
        """The event (`GET /events/{id}`, an API key with events:read)."""
        return answer_of(self._request("GET", f"/events/{event_id}", headers=self.key_headers()))["data"]

    def timeline(self, event_id: str) -> list[dict[str, Any]]:
        """The event's operations, oldest first."""
        return answer_of(self._request("GET", f"/events/{event_id}/timeline", headers=self.key_headers()))["data"]

    def subscribe(self, *, since: int | None = None, give_up_after: float | None = None,
                  **filters: Any) -> Iterator[dict[str, Any] | Gap]:
        """Every matching operation as its event frame, once and in order, across reconnections;
        a `Gap` where retention removed operations first. Filters: event_types, channel_id, tags,
        severity, thing_id (strings or lists). `since`: start after this seq (else: from now).
        Raises StreamEnded when the key is revoked or expires, ServerUnavailable when no
        connection could be made for `give_up_after` seconds (default: keep trying)."""
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        headers = self.key_headers()
        stream = StreamPosition(since)
        backoff = Backoff(None, first=0.25, longest=5.0)
        down_since = time.monotonic()
        problem = ""
        while True:
            try:
                with connect(subscribe_url(self.url, filters, stream.position), additional_headers=headers,
                             open_timeout=self.timeout, max_size=None, user_agent_header=USER_AGENT) as ws:
                    while True:
                        item = stream.accept(ws.recv(timeout=SILENCE_TIMEOUT))
                        backoff.reset()
                        down_since = time.monotonic()
                        if item is not None:
                            yield item
            except InvalidStatus as refused:
                final = stream.refusal(refused.response.status_code, refused.response.body)
                if final is not None:
                    raise final from None
                problem = f"HTTP {refused.response.status_code}"
            except ConnectionClosed as closed:
                received = closed.rcvd
                ended = stream.ended(received.code if received else None, received.reason if received else None)
                if ended is not None:
                    raise ended from None
                problem = f"connection closed ({received.code if received else 'no close frame'})"
            except (OSError, TimeoutError, WebSocketException) as error:
                problem = f"{type(error).__name__}: {error}"
            if give_up_after is not None and time.monotonic() - down_since > give_up_after:
                raise ServerUnavailable(f"no live stream from {self.url} for {give_up_after:g} s: {problem}",
                                        code="server_unavailable")
            time.sleep(backoff.next_wait() or 0)

    # -- one request, retried ----------------------------------------------------------------

    def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        backoff = Backoff(self.retries)
        attempts = 0
        while True:
            attempts += 1
            reply: httpx.Response | None = None
            error: Exception | None = None
            try:
                reply = self._http.request(method, path, **options)
                if not is_transient(reply):
                    return reply
            except httpx.TransportError as failure:
                error = failure
            wait = backoff.next_wait(retry_after_seconds(reply.headers.get("Retry-After")) if reply else None)
            if wait is None:
                raise unavailable(self.url, attempts, problem_of(reply, error))
            time.sleep(wait)
