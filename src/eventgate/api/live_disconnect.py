"""Noticing at once that a live subscriber went away, for every stream transport.

Each stream runs one of these beside its sender: it reads (and ignores) what the client sends
until the client disconnects, then ends the subscriber, so the hub stops framing for it and
the sender returns.
"""

from __future__ import annotations

from starlette.types import Receive
from starlette.websockets import WebSocket, WebSocketDisconnect

from eventgate.hub.subscriber import DISCONNECTED, Subscriber


async def until_http_disconnect(receive: Receive, subscriber: Subscriber) -> None:
    """An HTTP stream (SSE, ntfy's JSON lines): wait for `http.disconnect`."""
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
    finally:
        subscriber.end(DISCONNECTED)


async def until_websocket_disconnect(websocket: WebSocket, subscriber: Subscriber) -> None:
    """A WebSocket: read (and ignore) its messages until it closes."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, OSError, RuntimeError):
        return
    finally:
        subscriber.end(DISCONNECTED)
