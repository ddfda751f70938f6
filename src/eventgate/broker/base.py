"""What every broker does: carry committed operations and commands between server processes.

The broker is only a fast path. The store is the truth: an operation the broker loses (an
outage, a restart) is read back from the store by the hub, so publishing never waits and a
broker outage never stops writes. Messages are msgpack.

Each process is a *node* with a random id. It receives every operation published by the
others, and requests addressed to it (unsubscribe a client it holds).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from abc import ABC, abstractmethod
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
from prometheus_client import Counter, Gauge, Info

from eventgate.metrics import answering_process, registry

log = logging.getLogger("eventgate.broker")

REQUEST_TIMEOUT = 3.0
# The longest a broker's stop (or a reconnection's cleanup) waits for its client library.
STOP_TIMEOUT = 5.0
# Operations waiting to be published; beyond this they are dropped (other nodes read them
# from the store instead).
OUTBOX_SIZE = 10_000
MAX_MESSAGE_BYTES = 256 * 1024
NODE_ID_LENGTH = 12

# 1 while every broker of every live worker is connected (in-process brokers are always).
broker_connected = Gauge("eventgate_broker_connected", "1 while the broker connection is up (every worker's)",
                         registry=registry, multiprocess_mode="livemin")
broker_dropped = Counter("eventgate_broker_publish_dropped",
                         "Operation messages not published (broker down or outbox full)", registry=registry)
broker_reconnects = Counter("eventgate_broker_reconnects", "Broker (re)connections", registry=registry)
# Which process answered a scrape: client ids start with it, so a connection can be traced to
# the process that holds it (serve runs several behind one port). About that process alone, so
# never added up across workers (eventgate.metrics).
node_info = Info("eventgate_node", "This process's node id (the first 12 characters of its client ids)",
                 registry=answering_process)
# Whether each broker of this process is connected: the gauge is 1 only while all are (a
# process has one, but the tests run several servers in one process).
_connected: dict[int, bool] = {}


def _show_connected() -> None:
    broker_connected.set(1 if _connected and all(_connected.values()) else 0)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class BrokerUnavailable(Exception):
    """A request could not be routed: the broker is down or the node did not answer."""


class BrokerHandler(Protocol):
    """The hub, as the broker sees it."""

    def operations_received(self, operations: list[dict[str, Any]]) -> None: ...

    def broker_reconnected(self) -> None: ...

    async def command_received(self, command: dict[str, Any]) -> dict[str, Any]: ...


def new_node_id() -> str:
    return secrets.token_hex(NODE_ID_LENGTH // 2)


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def decode(data: bytes) -> Any:
    return _decoder.decode(data)


def operation_messages(node_id: str, operations: list[dict[str, Any]]) -> list[bytes]:
    """The operations as one message, or several when one would be too large for the broker."""
    message = encode({"node": node_id, "ops": operations})
    if len(message) <= MAX_MESSAGE_BYTES or len(operations) == 1:
        return [message]
    middle = len(operations) // 2
    return operation_messages(node_id, operations[:middle]) + operation_messages(node_id, operations[middle:])


def split_prefix(url: str, default: str) -> tuple[str, str]:
    """Take `?prefix=` off a broker URL: deployments sharing one broker must use different ones."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = default
    rest = []
    for name, value in query:
        if name == "prefix" and value:
            prefix = value
        else:
            rest.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(rest))), prefix


class Broker(ABC):
    """The interface the hub and the runtime use; one implementation per URL scheme."""

    def __init__(self, node_id: str | None = None) -> None:
        self.node_id = node_id or new_node_id()
        self.handler: BrokerHandler | None = None
        self._connection_over = False
        node_info.info({"node_id": self.node_id, "pid": str(os.getpid())})

    def _connection_changed(self, connected: bool) -> None:
        """Say whether this broker is connected now (eventgate_broker_connected)."""
        if not self._connection_over:  # a client library's callback may come after the stop
            _connected[id(self)] = connected
            _show_connected()

    def _connection_ended(self) -> None:
        """This broker has stopped: it no longer counts."""
        self._connection_over = True
        _connected.pop(id(self), None)
        _show_connected()

    @abstractmethod
    async def start(self, handler: BrokerHandler) -> None:
        """Begin (re)connecting in the background; never fails because the broker is down."""

    @abstractmethod
    def publish_operations(self, operations: list[dict[str, Any]]) -> None:
        """Hand committed operations to the other nodes; returns at once, never raises."""

    @abstractmethod
    async def request(self, node_id: str, command: dict[str, Any]) -> dict[str, Any] | None:
        """Ask another node; None when no such node is listening. Raises BrokerUnavailable."""

    @abstractmethod
    async def is_ready(self) -> bool: ...

    @abstractmethod
    async def stop(self) -> None: ...


class QueuedPublisher(Broker):
    """A bounded outbox drained by one task, so that publishing never waits on the network."""

    def __init__(self, node_id: str | None = None) -> None:
        super().__init__(node_id)
        self._outbox: asyncio.Queue[bytes] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def _start_publisher(self) -> None:
        self._outbox = asyncio.Queue(OUTBOX_SIZE)
        self._tasks.append(asyncio.get_running_loop().create_task(self._publish_loop()))

    def publish_operations(self, operations: list[dict[str, Any]]) -> None:
        if self._outbox is None or not operations:
            return
        for message in operation_messages(self.node_id, operations):
            try:
                self._outbox.put_nowait(message)
            except asyncio.QueueFull:
                broker_dropped.inc()

    async def _publish_loop(self) -> None:
        assert self._outbox is not None
        while True:
            message = await self._outbox.get()
            try:
                await self._send_operations(message)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the store still has it; remote hubs catch up from there
                broker_dropped.inc()
                log.debug("publishing to the broker failed: %s", error)

    @abstractmethod
    async def _send_operations(self, message: bytes) -> None: ...

    async def _cancel_tasks(self) -> None:
        """Cancel the background tasks and wait for them, but never longer than STOP_TIMEOUT:
        a client library stuck closing a dead connection must not hold up a shutdown."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT)
            if stuck:
                log.warning("%d broker task(s) did not stop within %.0f s; leaving them", len(stuck), STOP_TIMEOUT)
        self._tasks.clear()


def backoff_delays(first: float = 0.1, cap: float = 5.0):  # type: ignore[no-untyped-def]
    """0.1, 0.2, 0.4 … seconds up to `cap`, each with some jitter."""
    delay = first
    while True:
        yield delay * (0.75 + secrets.randbelow(500) / 1000)
        delay = min(cap, delay * 2)
