"""NATS broker (`nats://host:4222`), core NATS subjects (no JetStream: the store is the log).

Subjects: `<prefix>.ops` carries every node's committed operations; `<prefix>.node.<id>`
takes requests to one node, answered with NATS request/reply (a request to a node nobody
listens for fails at once with "no responders"). The prefix defaults to `eventgate`; set
`?prefix=` to share one NATS between deployments.

nats-py reconnects by itself (and re-subscribes); each reconnection tells the hub to catch up
from the store, since core NATS drops what was published while a node was away.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

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


class NatsBroker(QueuedPublisher):
    def __init__(self, url: str, node_id: str | None = None) -> None:
        super().__init__(node_id)
        self.url, self.prefix = split_prefix(url, "eventgate")
        self.ops_subject = f"{self.prefix}.ops"
        self.node_subject = self.node_subject_of(self.node_id)
        self._nc: Client | None = None

    def node_subject_of(self, node_id: str) -> str:
        return f"{self.prefix}.node.{node_id}"

    async def start(self, handler: BrokerHandler) -> None:
        self.handler = handler
        self._connection_changed(False)
        self._start_publisher()
        self._tasks.append(asyncio.get_running_loop().create_task(self._connect()))

    async def _connect(self) -> None:
        delays = backoff_delays()
        while not self._stopping:
            try:
                nc = await nats.connect(
                    servers=[self.url], name=f"eventgate-{self.node_id}", connect_timeout=2,
                    allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=1,
                    ping_interval=10, max_outstanding_pings=3,
                    error_cb=self._on_error, disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected, closed_cb=self._on_closed,
                )
                await nc.subscribe(self.ops_subject, cb=self._on_operations)
                await nc.subscribe(self.node_subject, cb=self._on_command)
                await nc.flush(timeout=2)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("connecting to the broker failed: %s; retrying", error)
                await asyncio.sleep(next(delays))
                continue
            self._nc = nc
            log.info("broker connected (%s, node %s)", self.prefix, self.node_id)
            await self._on_reconnected()
            return

    async def _send_operations(self, message: bytes) -> None:
        if self._nc is None or not self._nc.is_connected:
            raise BrokerUnavailable("not connected")
        await self._nc.publish(self.ops_subject, message)

    async def request(self, node_id: str, command: dict[str, Any]) -> dict[str, Any] | None:
        if self._nc is None or not self._nc.is_connected:
            raise BrokerUnavailable("the broker is unavailable")
        try:
            reply = await self._nc.request(self.node_subject_of(node_id), encode(command), timeout=REQUEST_TIMEOUT)
        except NoRespondersError:
            return None
        except (NatsTimeout, TimeoutError):
            raise BrokerUnavailable("the process holding that client did not answer") from None
        except Exception as error:
            raise BrokerUnavailable(f"the broker is unavailable: {error}") from None
        return decode(reply.data)

    async def is_ready(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def stop(self) -> None:
        await self._cancel_tasks()
        if self._nc is not None:
            try:
                await asyncio.wait_for(self._nc.close(), STOP_TIMEOUT)
            except Exception:
                pass
        self._connection_ended()

    # -- callbacks ---------------------------------------------------------------------

    async def _on_operations(self, msg: Msg) -> None:
        assert self.handler is not None
        try:
            message = decode(msg.data)
        except Exception:
            log.warning("ignoring an undecodable broker message on %s", msg.subject)
            return
        if message.get("node") != self.node_id:
            self.handler.operations_received(message.get("ops") or [])

    async def _on_command(self, msg: Msg) -> None:
        assert self.handler is not None
        try:
            reply = await self.handler.command_received(decode(msg.data))
            await msg.respond(encode(reply))
        except Exception:
            log.exception("answering a broker request failed")

    async def _on_error(self, error: Exception) -> None:
        log.debug("broker error: %s", error)

    async def _on_disconnected(self) -> None:
        self._connection_changed(False)
        if not self._stopping:
            log.warning("broker connection lost; reconnecting")

    async def _on_reconnected(self) -> None:
        self._connection_changed(True)
        broker_reconnects.inc()
        if self.handler is not None:
            self.handler.broker_reconnected()

    async def _on_closed(self) -> None:
        self._connection_changed(False)
