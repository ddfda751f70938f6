"""ntfy subscribing (SPEC §13): the ntfy apps, Home Assistant and ntfy's libraries read channels
as ntfy topics.

    GET /{topics}/json | /sse | /raw    a stream (or, with poll=1, the stored messages, then the end)
    GET /{topics}/ws                    the same stream over a WebSocket
    GET /{topics}/auth                  {"success": true} when the credential may read every topic

`topics` is one topic or several joined by commas. Each stream starts with ntfy's `open` event,
then the messages from `since` on (none by default), live ones as they commit, and a
`keepalive` when nothing else was sent for a while. The bytes are ntfy's: one JSON object per
line (`/json`, `/ws`), `data:` lines with `event: <name>` for everything but messages (`/sse`;
eventgate adds `id: <message id>` to messages, so a browser's EventSource resumes by itself),
the bare message text (`/raw`, a blank line for anything else).

A stream ends when its API key or channel token is revoked, when the server stops, or when the
client falls too far behind; ntfy clients then reconnect with `since=<last message id>` and
lose nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from eventgate.api.action_links import link_secret
from eventgate.api.envelope import JSONResponse
from eventgate.api.http_transport import STREAM_EXTENSION, HttpStreamWriter
from eventgate.api.live_closing import KEY_ENDED_CODE, KEY_ENDED_REASONS, SERVICE_RESTART_CODE, SLOW_CONSUMER_CODE
from eventgate.api.live_closing import slow_close_deadline
from eventgate.api.live_disconnect import until_http_disconnect, until_websocket_disconnect
from eventgate.api.live_transport import EXTENSION
from eventgate.api.ntfy.mapping import ntfy_message
from eventgate.api.ntfy.messages import ntfy_error
from eventgate.api.ntfy.publish import presented_tokens
from eventgate.api.ntfy.query import MessageFilter, SubscribeQuery, parse_query, parse_since
from eventgate.api.ntfy.topics import is_valid_topic
from eventgate.domain.action_links import event_links
from eventgate.domain.errors import DomainError
from eventgate.domain.views import canonical_event, operation_view
from eventgate.hub.filters import SubscriptionFilter
from eventgate.hub.frames import Frame
from eventgate.hub.subscriber import KEY_REVOKED, SHUTDOWN, SLOW, Subscriber
from eventgate.service.ntfy_subscribers import NtfyReader, NtfySubscribers, checked_topics

log = logging.getLogger("eventgate.live")

_encoder = msgspec.json.Encoder()
CONTENT_TYPES = {"json": "application/x-ndjson; charset=utf-8", "sse": "text/event-stream; charset=utf-8",
                 "raw": "text/plain; charset=utf-8"}
STREAM_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"),
                  (b"access-control-allow-origin", b"*")]


def subscribers_of(connection: HTTPConnection) -> NtfySubscribers:
    runtime = connection.app.state.runtime
    return NtfySubscribers(runtime.database, runtime.keys, runtime.channel_tokens)


@dataclass(slots=True)
class Subscription:
    """One checked subscribe request."""

    reader: NtfyReader
    topics: str  # as the path named them, for `open` and `keepalive`
    topic_of_channel: dict[str, str]
    query: SubscribeQuery
    start: int | None


async def check_subscription(connection: HTTPConnection) -> Subscription:
    """Credential, topics and query of a subscribe request; raises DomainError (ntfy's codes)."""
    subscribers = subscribers_of(connection)
    topics = checked_topics(connection.path_params["topics"], is_valid_topic)
    reader = await subscribers.authenticate(presented_tokens(connection))  # type: ignore[arg-type]
    topic_of_channel = await subscribers.channels_of(reader, topics)
    query = parse_query(connection)
    last_event_id = connection.headers.get("last-event-id")
    if last_event_id and last_event_id.strip():  # an EventSource resuming by itself
        query = SubscribeQuery(parse_since(last_event_id, poll=query.poll), query.poll, query.filter)
    start = await subscribers.start_seq(reader, list(topic_of_channel), query.since)
    return Subscription(reader, ",".join(topics), topic_of_channel, query, start)


# -- turning frames into ntfy's bytes ------------------------------------------------------------


class NtfyEncoder:
    """ntfy's events in one of its formats, from the hub's frames or from stored operations."""

    def __init__(self, form: str, subscription: Subscription, public_url: str | None,
                 link_secret: bytes | None = None) -> None:
        self.form = form
        self.link_secret = link_secret
        self.topics = subscription.topics
        self.topic_of_channel = subscription.topic_of_channel
        self.filter: MessageFilter = subscription.query.filter
        self.public_url = public_url
        # Subscribers with the same key get the same bytes for a frame (see `frame`).
        self.key = (form, frozenset(subscription.topic_of_channel.items()), self.filter, public_url)

    def control(self, event: str) -> bytes:
        """`open` or `keepalive`."""
        return self.encode({"id": _random_id(), "time": int(time.time()), "event": event, "topic": self.topics})

    def operation(self, op: dict[str, Any], event: dict[str, Any]) -> bytes | None:
        topic = self.topic_of_channel.get(op["channel_id"])
        if topic is None:
            return None
        links = event_links(self.link_secret, self.public_url, event, time.time())
        body = ntfy_message(op, event, topic, self.public_url, links)
        return self.encode(body) if self.filter.passes(body) else None

    def stored(self, operation: dict[str, Any]) -> bytes | None:
        return self.operation(operation_view(operation), canonical_event(operation["event"]))

    def frame(self, frame: Frame) -> bytes | None:
        if not frame.seq:
            return self._control_frame(frame)
        # The hub frames an operation once for every subscriber; the ntfy bytes of it are made
        # once for all the subscribers that read it alike (same form, topics and filters). The
        # frame's text is one shared string, whose hash Python keeps: the lookup costs little.
        key = (frame.text, self.key)
        try:
            return ENCODED[key]
        except KeyError:
            pass
        decoded = msgspec.json.decode(frame.text)
        data = self.operation(decoded["op"], decoded["event"])
        ENCODED[key] = data
        if len(ENCODED) > ENCODED_SIZE:
            ENCODED.popitem(last=False)
        return data

    def _control_frame(self, frame: Frame) -> bytes | None:
        kind = msgspec.json.decode(frame.text).get("type")
        if kind == "welcome":
            return self.control("open")
        if kind == "heartbeat":
            return self.control("keepalive")
        return None  # ntfy has no word for a retention gap; the §6 streams name it

    def encode(self, body: dict[str, Any]) -> bytes:
        if self.form == "raw":
            return (body.get("message", "").replace("\n", " ") + "\n").encode() if body["event"] == "message" \
                else b"\n"
        text = _encoder.encode(body)
        if self.form == "sse":
            if body["event"] == "message":
                return b"id: " + body["id"].encode() + b"\ndata: " + text + b"\n\n"
            return b"event: " + body["event"].encode() + b"\ndata: " + text + b"\n\n"
        return text + b"\n"


ENCODED: OrderedDict[tuple[str, Any], bytes | None] = OrderedDict()
ENCODED_SIZE = 4096


def _random_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


# -- HTTP streams ----------------------------------------------------------------------------------


class NtfyDirect:
    """The hub's direct path to an ntfy HTTP stream: frames rendered by the stream's encoder
    (made once for all subscribers that read alike) and written straight to the socket."""

    __slots__ = ("writer", "encoder")

    def __init__(self, writer: HttpStreamWriter, encoder: NtfyEncoder) -> None:
        self.writer = writer
        self.encoder = encoder

    def write_frames(self, frames: list[Frame]) -> bool:
        frame = self.encoder.frame
        if len(frames) == 1:
            body = frame(frames[0]) or b""
        else:
            body = b"".join(data for data in map(frame, frames) if data is not None)
        return self.writer.write(body)

    def is_writable(self) -> bool:
        return self.writer.is_writable()

    async def wait_writable(self) -> None:
        await self.writer.wait_writable()


class NtfyHttpStream:
    """An ASGI response running one subscription until the client leaves or it is ended."""

    def __init__(self, runtime: Any, subscriber: Subscriber, subscription: Subscription, encoder: NtfyEncoder,
                 subscribers: NtfySubscribers) -> None:
        self.runtime = runtime
        self.subscriber = subscriber
        self.subscription = subscription
        self.encoder = encoder
        self.subscribers = subscribers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscriber = self.subscriber
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", CONTENT_TYPES[self.encoder.form].encode()), *STREAM_HEADERS]})

        async def send_frame(frame: Frame) -> None:
            data = self.encoder.frame(frame)
            if data is not None:
                await send({"type": "http.response.body", "body": data, "more_body": True})

        writer = scope.get("extensions", {}).get(STREAM_EXTENSION)
        if writer is not None:
            subscriber.direct = NtfyDirect(writer, self.encoder)
        listener = asyncio.get_running_loop().create_task(until_http_disconnect(receive, subscriber))
        try:
            async with slow_close_deadline(subscriber), \
                    self.subscribers.token_watch(self.subscription.reader, lambda: subscriber.end(KEY_REVOKED)):
                await self.runtime.hub.stream(subscriber, self.subscription.start, send_frame)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (TimeoutError, OSError):
            pass
        except Exception:
            log.exception("ntfy stream of client %s failed", subscriber.client_id)
        finally:
            subscriber.direct = None
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener


class NtfyPoll:
    """`poll=1`: the stored messages from `since` on, then the end of the response."""

    def __init__(self, subscribers: NtfySubscribers, subscription: Subscription, encoder: NtfyEncoder) -> None:
        self.subscribers = subscribers
        self.subscription = subscription
        self.encoder = encoder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", CONTENT_TYPES[self.encoder.form].encode()), *STREAM_HEADERS]})
        subscription = self.subscription
        if subscription.start is not None:
            chunk: list[bytes] = []
            async for operation in self.subscribers.stored(subscription.reader,
                                                           frozenset(subscription.topic_of_channel),
                                                           subscription.start):
                data = self.encoder.stored(operation)
                if data is not None:
                    chunk.append(data)
                if len(chunk) >= 100:
                    await send({"type": "http.response.body", "body": b"".join(chunk), "more_body": True})
                    chunk = []
            if chunk:
                await send({"type": "http.response.body", "body": b"".join(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _new_subscriber(connection: HTTPConnection, subscription: Subscription) -> Subscriber:
    runtime = connection.app.state.runtime
    reader = subscription.reader
    return runtime.hub.subscriber(reader.workspace_id, reader.user,
                                  SubscriptionFilter(channel_ids=frozenset(subscription.topic_of_channel)),
                                  transport="ntfy", key=reader.key)


async def _link_secret(connection: HTTPConnection) -> bytes | None:
    """The one-tap links' secret, when messages carry links (the server has a public URL)."""
    if not connection.app.state.runtime.settings.public_url:
        return None
    return await link_secret(connection)  # type: ignore[arg-type]


async def subscribe_http(request: Request) -> Response | NtfyHttpStream | NtfyPoll:
    """Subscribe to topics as ntfy JSON lines, Server-Sent Events or raw text."""
    runtime = request.app.state.runtime
    try:
        subscription = await check_subscription(request)
    except DomainError as error:
        return ntfy_error(error)
    encoder = NtfyEncoder(request.path_params["form"], subscription, runtime.settings.public_url,
                          await _link_secret(request))
    if subscription.query.poll:
        return NtfyPoll(subscribers_of(request), subscription, encoder)
    return NtfyHttpStream(runtime, _new_subscriber(request, subscription), subscription, encoder,
                          subscribers_of(request))


# -- WebSocket -------------------------------------------------------------------------------------


async def subscribe_websocket(websocket: WebSocket) -> None:
    """Subscribe to topics over a WebSocket: one ntfy JSON event per text message."""
    runtime = websocket.app.state.runtime
    try:
        subscription = await check_subscription(websocket)
    except DomainError as error:
        await _refuse(websocket, error)
        return
    await websocket.accept()
    subscriber = _new_subscriber(websocket, subscription)
    encoder = NtfyEncoder("json", subscription, runtime.settings.public_url, await _link_secret(websocket))

    async def send(frame: Frame) -> None:
        data = encoder.frame(frame)
        if data is not None:
            await websocket.send_text(data.decode())

    listener = asyncio.get_running_loop().create_task(until_websocket_disconnect(websocket, subscriber))
    try:
        async with slow_close_deadline(subscriber), \
                subscribers_of(websocket).token_watch(subscription.reader, lambda: subscriber.end(KEY_REVOKED)):
            reason = await runtime.hub.stream(subscriber, subscription.start, send)
            await _close(websocket, reason)
    except (TimeoutError, WebSocketDisconnect, OSError):
        pass
    except Exception:
        log.exception("ntfy WebSocket of client %s failed", subscriber.client_id)
    finally:
        listener.cancel()
        with contextlib.suppress(BaseException):
            await listener


async def _close(websocket: WebSocket, reason: str) -> None:
    if reason == SLOW:
        await websocket.close(SLOW_CONSUMER_CODE, "slow consumer; resume with since=<last message id>")
    elif reason == SHUTDOWN:
        await websocket.close(SERVICE_RESTART_CODE, "server stopping; resume with since=<last message id>")
    elif reason in KEY_ENDED_REASONS:
        await websocket.close(KEY_ENDED_CODE, KEY_ENDED_REASONS[reason].replace("api key", "credential"))




async def _refuse(websocket: WebSocket, error: DomainError) -> None:
    extensions = websocket.scope.get("extensions", {})
    if "websocket.http.response" in extensions:
        await websocket.send_denial_response(ntfy_error(error))
        # As api/live_ws.py: the denial completes the handshake as far as uvicorn is concerned.
        connection = extensions.get(EXTENSION, {}).get("connection")
        if connection is not None and getattr(connection, "initial_response", None) is not None:
            connection.handshake_complete = True
    else:
        await websocket.close(1008, error.message[:120])


# -- access check ----------------------------------------------------------------------------------


async def check_access(request: Request) -> Response:
    """ntfy's `GET /{topics}/auth`: may this credential read every topic?"""
    subscribers = subscribers_of(request)
    try:
        topics = checked_topics(request.path_params["topics"], is_valid_topic)
        reader = await subscribers.authenticate(presented_tokens(request))
        await subscribers.channels_of(reader, topics)
    except DomainError as error:
        return ntfy_error(error)
    return JSONResponse({"success": True})



routes = [
    Route("/{topics:ntfy_topics}/{form:ntfy_form}", subscribe_http, methods=["GET"], name="ntfy_subscribe"),
    Route("/{topics:ntfy_topics}/auth", check_access, methods=["GET"], name="ntfy_auth"),
    WebSocketRoute("/{topics:ntfy_topics}/ws", subscribe_websocket, name="ntfy_subscribe_ws"),
]
