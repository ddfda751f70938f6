"""Seed 004: `GET /api/v1/ws/subscribe` (WebSocket) and `POST /api/v1/ws/unsubscribe`.

Auth and filters are checked before the upgrade, so a refused subscription is a plain HTTP
error in the seed-004 shape. After the upgrade the hub streams frames; this module only
moves them to the socket and closes it the way the contract says (4008 for a slow consumer,
naming the last seq sent; 1012 when the server stops; 4001 when the key is revoked or expires;
4004 when every channel it is limited to is deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from eventgate.api.bodies import decode_struct, read_json_body
from eventgate.api.envelope import JSONResponse
from eventgate.api.key_auth import require_key
from eventgate.api.live_closing import (
    INTERNAL_ERROR_CODE,
    ENDED_FOR_GOOD,
    SERVICE_RESTART_CODE,
    SLOW_CONSUMER_CODE,
    slow_close_deadline,
    slow_consumer_reason,
)
from eventgate.api.live_disconnect import until_websocket_disconnect
from eventgate.api.live_errors import live_error
from eventgate.api.live_transport import EXTENSION
from eventgate.domain.errors import DomainError
from eventgate.hub.frames import Frame
from eventgate.hub.subscriber import DISCONNECTED, SHUTDOWN, SLOW, Subscriber
from eventgate.service.subscriptions import SubscriptionRequest, parse_subscription, unsubscribe

log = logging.getLogger("eventgate.live")

async def subscribe_websocket(websocket: WebSocket) -> None:
    """Upgrade to a WebSocket and stream the workspace's operations (scope subscribe)."""
    runtime = websocket.app.state.runtime
    try:
        key = await require_key(websocket, "subscribe", allow_query_token=True)
        request = await parse_subscription(runtime.database, key, websocket.query_params,
                                           strict_event_types=runtime.settings.strict_event_types)
    except DomainError as error:
        await _refuse(websocket, error)
        return
    await websocket.accept()
    subscriber = runtime.hub.subscriber(key.workspace_id, key.user_id, request.filter, transport="ws", key=key)
    await _serve(websocket, runtime.hub, subscriber, request)


async def _refuse(websocket: WebSocket, error: DomainError) -> None:
    extensions = websocket.scope.get("extensions", {})
    if "websocket.http.response" in extensions:
        await websocket.send_denial_response(live_error(error))
        # uvicorn's sans-I/O protocol sends the denial but does not count it as the end of the
        # handshake, so when the app returns it logs "ASGI callable returned without completing
        # handshake" (an ERROR line for every refused key). The denial is complete: say so.
        connection = extensions.get(EXTENSION, {}).get("connection")
        if connection is not None and getattr(connection, "initial_response", None) is not None:
            connection.handshake_complete = True
    else:  # a server without the denial extension: the best we can say before accepting
        await websocket.close(1008, error.message[:120])


async def _serve(websocket: WebSocket, hub, subscriber: Subscriber,  # type: ignore[no-untyped-def]
                 request: SubscriptionRequest) -> None:
    loop = asyncio.get_running_loop()
    send_raw = websocket.send

    async def send(frame: Frame) -> None:
        await send_raw({"type": "websocket.send", "text": frame.text})

    listener: asyncio.Task[None] | None = None
    frames_extension = websocket.scope.get("extensions", {}).get(EXTENSION)
    if frames_extension is not None:
        # The server takes ready-made frames and tells us when the socket goes away: no
        # task per connection just to wait for the disconnect.
        connection = frames_extension["connection"]
        connection.on_lost(lambda: subscriber.end(DISCONNECTED))
        connection.discard_incoming()
        subscriber.direct = connection
        # The headers were only needed to authenticate; ten thousand idle copies add up.
        websocket.scope["headers"] = []
    else:
        listener = loop.create_task(until_websocket_disconnect(websocket, subscriber))
    try:
        async with slow_close_deadline(subscriber):
            reason = await hub.stream(subscriber, request.since, send)
            if reason == SLOW:
                await websocket.close(SLOW_CONSUMER_CODE, slow_consumer_reason(subscriber))
            elif reason == SHUTDOWN:
                await websocket.close(SERVICE_RESTART_CODE, "server stopping; resume with since")
            elif reason in ENDED_FOR_GOOD:
                await websocket.close(*ENDED_FOR_GOOD[reason])
    except (TimeoutError, WebSocketDisconnect, OSError):
        # The peer went away, or stopped reading for good.
        pass
    except Exception:
        log.exception("live stream of client %s failed", subscriber.client_id)
        with contextlib.suppress(Exception):
            await websocket.close(INTERNAL_ERROR_CODE, "internal error; resume with since")
    finally:
        subscriber.direct = None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener




async def subscribe_without_upgrade(request: Request) -> Response:
    """A plain GET: check the key and filters as the upgrade would, then ask for the upgrade."""
    runtime = request.app.state.runtime
    try:
        key = await require_key(request, "subscribe", allow_query_token=True)
        await parse_subscription(runtime.database, key, request.query_params,
                                 strict_event_types=runtime.settings.strict_event_types)
    except DomainError as error:
        return live_error(error)
    return live_error(DomainError(
        426, "upgrade_required",
        "this endpoint speaks WebSocket (send Upgrade: websocket); for plain HTTP use /api/v1/sse/subscribe",
        field="header.upgrade", headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    ))


class UnsubscribeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Remove event types from a live connection's filter (seed 004)."""

    client_id: str
    # A JSON array of codes (a comma-separated string is accepted too).
    event_types: list[str] | str
    # The owner; when given it must be the caller's own user.
    user_id: str | None = None


class UnsubscribeResult(msgspec.Struct):
    client_id: str
    user_id: str
    # The remaining types of a subscription to a list of types ([] when subscribed to everything).
    event_types: list[str]
    # What a subscription to everything now leaves out.
    excluded_event_types: list[str]
    everything: bool


class UnsubscribeReply(msgspec.Struct):
    code: int
    message: str
    data: UnsubscribeResult


async def unsubscribe_client(request: Request) -> Response:
    """Narrow a live subscription without closing it; it may be held by any server process."""
    runtime = request.app.state.runtime
    try:
        key = await require_key(request, "subscribe")
        body = decode_struct(await read_json_body(request), UnsubscribeRequest)
        result = await unsubscribe(runtime.database, runtime.hub, key, body.client_id, body.event_types,
                                   body.user_id, strict_event_types=runtime.settings.strict_event_types)
    except DomainError as error:
        return live_error(error, field_prefix="body.")
    return JSONResponse({"code": 200, "message": "unsubscribed", "data": result})


routes = [
    WebSocketRoute("/api/v1/ws/subscribe", subscribe_websocket, name="ws_subscribe"),
    Route("/api/v1/ws/subscribe", subscribe_without_upgrade, methods=["GET"], name="ws_subscribe_http"),
    Route("/api/v1/ws/unsubscribe", unsubscribe_client, methods=["POST"], name="ws_unsubscribe"),
]
