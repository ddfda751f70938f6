"""`GET /api/v1/sse/subscribe`: the live stream as Server-Sent Events.

Same key, filters and frames as the WebSocket route. Every operation carries `id: <seq>`, so
a browser's EventSource resumes exactly through Last-Event-ID (which wins over `since`). The
welcome carries the id the stream starts from, so a stream dropped before its first event
resumes without a gap too. A slow consumer gets a final `event: close` message naming the
last seq sent, then the stream ends; EventSource then reconnects and resumes by itself. When
the key is revoked or expires the final `event: close` says so (code 4001), as it does when
every channel the stream is limited to is deleted (4004), and the stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from eventgate.api.key_auth import require_key
from eventgate.api.live_disconnect import until_http_disconnect
from eventgate.api.live_errors import live_error
from eventgate.api.live_closing import (
    ENDED_FOR_GOOD,
    SERVICE_RESTART_CODE,
    SLOW_CONSUMER_CODE,
    slow_close_deadline,
    slow_consumer_reason,
)
from eventgate.domain.errors import DomainError
from eventgate.hub.frames import Frame, encode
from eventgate.hub.subscriber import SHUTDOWN, SLOW, Subscriber
from eventgate.service.subscriptions import SubscriptionRequest, parse_subscription

log = logging.getLogger("eventgate.live")

RETRY_MILLISECONDS = 2000


class EventStream:
    """An ASGI response that runs one subscription until the client leaves or falls behind."""

    def __init__(self, hub: Any, subscriber: Subscriber, request: SubscriptionRequest) -> None:
        self.hub = hub
        self.subscriber = subscriber
        self.request = request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscriber = self.subscriber
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]})
        await send({"type": "http.response.body", "body": f"retry: {RETRY_MILLISECONDS}\n\n".encode(),
                    "more_body": True})

        async def send_frame(frame: Frame) -> None:
            await send({"type": "http.response.body", "body": frame.sse, "more_body": True})

        loop = asyncio.get_running_loop()
        listener = loop.create_task(until_http_disconnect(receive, subscriber))
        try:
            async with slow_close_deadline(subscriber):
                reason = await self.hub.stream(subscriber, self.request.since, send_frame)
                close = _close_of(reason, subscriber)
                if close is not None:
                    code, text = close
                    body = encode({"type": "close", "code": code, "reason": text, "seq": subscriber.last_sent})
                    await send({"type": "http.response.body", "body": f"event: close\ndata: {body}\n\n".encode(),
                                "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (TimeoutError, OSError):
            pass
        except Exception:
            log.exception("SSE stream of client %s failed", subscriber.client_id)
        finally:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener


def _close_of(reason: str, subscriber: Subscriber) -> tuple[int, str] | None:
    """The code and reason of the final `event: close`; None when the client left by itself."""
    if reason == SLOW:
        return SLOW_CONSUMER_CODE, slow_consumer_reason(subscriber)
    if reason == SHUTDOWN:
        return SERVICE_RESTART_CODE, "server stopping; resume with Last-Event-ID"
    if reason in ENDED_FOR_GOOD:
        return ENDED_FOR_GOOD[reason]
    return None




async def subscribe_sse(request: Request) -> Response | EventStream:
    """Stream the workspace's operations as Server-Sent Events (scope subscribe)."""
    runtime = request.app.state.runtime
    try:
        key = await require_key(request, "subscribe", allow_query_token=True)
        subscription = await parse_subscription(runtime.database, key, request.query_params,
                                                request.headers.get("last-event-id"),
                                                strict_event_types=runtime.settings.strict_event_types)
    except DomainError as error:
        return live_error(error)
    subscriber = runtime.hub.subscriber(key.workspace_id, key.user_id, subscription.filter, transport="sse",
                                        key=key)
    return EventStream(runtime.hub, subscriber, subscription)


routes = [
    Route("/api/v1/sse/subscribe", subscribe_sse, methods=["GET"], name="sse_subscribe"),
]
