"""Redis pub/sub broker (`redis://host:6379/0`).

Channels: `<prefix>:ops` carries every node's committed operations, `<prefix>:node:<id>`
carries requests to one node and the replies to them. The prefix defaults to
`eventgate:<db>` (pub/sub ignores the database number, the prefix does not); set
`?prefix=` to share one Redis between deployments.

Pub/sub is at-most-once: a message published while a node is disconnected is gone. That is
fine here because the hub catches up from the store after every reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from eventgate.broker.base import (
    REQUEST_TIMEOUT,
    STOP_TIMEOUT,
    BrokerHandler,
    BrokerUnavailable,
    QueuedPublisher,
    backoff_delays,
    broker_reconnects,
    decode,
    encode,
    log,
    split_prefix,
)


def _default_prefix(url: str) -> str:
    path = urlsplit(url).path.strip("/")
    return f"eventgate:{path or '0'}"


class RedisBroker(QueuedPublisher):
    def __init__(self, url: str, node_id: str | None = None) -> None:
        super().__init__(node_id)
        self.url, self.prefix = split_prefix(url, _default_prefix(url))
        self.ops_channel = f"{self.prefix}:ops"
        self.node_channel = self.node_channel_of(self.node_id)
        self._client: aioredis.Redis | None = None
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._listening = False

    def node_channel_of(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    def _new_client(self) -> aioredis.Redis:
        # No silent retries: a lost connection must surface, so that the hub catches up.
        return aioredis.Redis.from_url(self.url, socket_connect_timeout=2, socket_keepalive=True,
                                       retry=Retry(NoBackoff(), 0), health_check_interval=10)

    async def start(self, handler: BrokerHandler) -> None:
        self.handler = handler
        self._client = self._new_client()
        self._connection_changed(False)
        self._start_publisher()
        self._tasks.append(asyncio.get_running_loop().create_task(self._listen_loop()))

    async def _send_operations(self, message: bytes) -> None:
        assert self._client is not None
        await self._client.publish(self.ops_channel, message)

    async def request(self, node_id: str, command: dict[str, Any]) -> dict[str, Any] | None:
        assert self._client is not None
        request_id = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        try:
            try:
                receivers = await self._client.publish(
                    self.node_channel_of(node_id),
                    encode({"id": request_id, "reply_to": self.node_id, "command": command}),
                )
            except RedisError as error:
                raise BrokerUnavailable(f"the broker is unavailable: {error}") from None
            if receivers == 0:
                return None
            try:
                return await asyncio.wait_for(future, REQUEST_TIMEOUT)
            except TimeoutError:
                raise BrokerUnavailable("the process holding that client did not answer") from None
        finally:
            self._replies.pop(request_id, None)

    async def is_ready(self) -> bool:
        if self._client is None or not self._listening:
            return False
        try:
            return bool(await asyncio.wait_for(self._client.ping(), 2))
        except (RedisError, OSError, TimeoutError):
            return False

    async def stop(self) -> None:
        await self._cancel_tasks()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.aclose(), STOP_TIMEOUT)
        self._connection_ended()

    # -- receiving ---------------------------------------------------------------------

    async def _listen_loop(self) -> None:
        delays = backoff_delays()
        while not self._stopping:
            client = self._new_client()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.ops_channel, self.node_channel)
                self._listening = True
                self._connection_changed(True)
                broker_reconnects.inc()
                delays = backoff_delays()
                log.info("broker connected (%s, node %s)", self.prefix, self.node_id)
                assert self.handler is not None
                self.handler.broker_reconnected()
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is not None:
                        await self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._listening:
                    log.warning("broker connection lost: %s; reconnecting", error)
            finally:
                self._listening = False
                self._connection_changed(False)
                try:
                    await asyncio.wait_for(asyncio.shield(self._close_quietly(pubsub, client)), STOP_TIMEOUT)
                except BaseException:
                    pass
            await asyncio.sleep(next(delays))

    @staticmethod
    async def _close_quietly(pubsub: Any, client: aioredis.Redis) -> None:
        try:
            await pubsub.aclose()
            await client.aclose()
        except Exception:
            pass

    async def _dispatch(self, channel: bytes | str, data: bytes) -> None:
        assert self.handler is not None
        if isinstance(channel, bytes):
            channel = channel.decode()
        try:
            message = decode(data)
        except Exception:
            log.warning("ignoring an undecodable broker message on %s", channel)
            return
        if channel == self.ops_channel:
            if message.get("node") != self.node_id:
                self.handler.operations_received(message.get("ops") or [])
        elif "reply" in message:
            future = self._replies.get(message.get("id", ""))
            if future is not None and not future.done():
                future.set_result(message["reply"])
        elif "command" in message:
            asyncio.get_running_loop().create_task(self._answer(message))

    async def _answer(self, message: dict[str, Any]) -> None:
        assert self.handler is not None and self._client is not None
        try:
            reply = await self.handler.command_received(message["command"])
            await self._client.publish(self.node_channel_of(message["reply_to"]),
                                       encode({"id": message["id"], "reply": reply}))
        except Exception:
            log.exception("answering a broker request failed")

