"""`AsyncClient`: the same as `Client` for asyncio code."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

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


class AsyncClient(ClientSettings):
    """An asyncio client; use it in an `async with` block or await `disconnect()` when done.

    >>> async with AsyncClient(URL, channel=CHANNEL, password=PASSWORD) as events:
    ...     event_id = await events.create(title="Nightly backup")
    """

    def __init__(self, url: str = "http://127.0.0.1:8080", **settings: Any) -> None:
        super().__init__(url, **settings)
        self._http = httpx.AsyncClient(base_url=self.url, timeout=self.timeout, headers={"User-Agent": USER_AGENT})

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    async def disconnect(self) -> None:
        """Close the client's connections (`close()` closes events)."""
        await self._http.aclose()

    # -- producing ---------------------------------------------------------------------------

    async def create(self, **fields: Any) -> str:
        return (await self.send("create", None, **fields)).event_id

    async def update(self, event_id: str, **fields: Any) -> str:
        return (await self.send("update", event_id, **fields)).event_id

    async def close(self, event_id: str, **fields: Any) -> str:
        return (await self.send("close", event_id, **fields)).event_id

    async def send(self, kind: str, event_id: str | None = None, **fields: Any) -> Receipt:
        request = producer_request(kind, self.channel, self.password, event_id, fields)
        reply = await self._request("POST", request.path, json=request.body, headers=self.producer_headers())
        return receipt_of(request, answer_of(reply))

    # -- reading -----------------------------------------------------------------------------

    async def get(self, event_id: str) -> dict[str, Any]:
        return answer_of(await self._request("GET", f"/events/{event_id}", headers=self.key_headers()))["data"]

    async def timeline(self, event_id: str) -> list[dict[str, Any]]:
        reply = await self._request("GET", f"/events/{event_id}/timeline", headers=self.key_headers())
        return answer_of(reply)["data"]

    async def subscribe(self, *, since: int | None = None, give_up_after: float | None = None,
                        **filters: Any) -> AsyncIterator[dict[str, Any] | Gap]:
        """As Client.subscribe, for `async for`."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

        headers = self.key_headers()
        stream = StreamPosition(since)
        backoff = Backoff(None, first=0.25, longest=5.0)
        down_since = time.monotonic()
        problem = ""
        while True:
            try:
                async with connect(subscribe_url(self.url, filters, stream.position), additional_headers=headers,
                                   open_timeout=self.timeout, max_size=None, user_agent_header=USER_AGENT) as ws:
                    while True:
                        async with asyncio.timeout(SILENCE_TIMEOUT):
                            raw = await ws.recv()
                        item = stream.accept(raw)
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
            await asyncio.sleep(backoff.next_wait() or 0)

    # -- one request, retried ----------------------------------------------------------------

    async def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        backoff = Backoff(self.retries)
        attempts = 0
        while True:
            attempts += 1
            reply: httpx.Response | None = None
            error: Exception | None = None
            try:
                reply = await self._http.request(method, path, **options)
                if not is_transient(reply):
                    return reply
            except httpx.TransportError as failure:
                error = failure
            wait = backoff.next_wait(retry_after_seconds(reply.headers.get("Retry-After")) if reply else None)
            if wait is None:
                raise unavailable(self.url, attempts, problem_of(reply, error))
            await asyncio.sleep(wait)
