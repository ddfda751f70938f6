"""The broker of one machine (`local:///run/dir`): the worker processes of `eventgate serve`
talk to each other over Unix sockets, with no Redis or NATS.

Every process (node) listens on `<run dir>/<node id>.sock` and keeps one connection to each
sibling it finds there, used both ways: committed operations go to every sibling, a request
(unsubscribe) goes to the one node named by a client id and its reply comes back on the same
connection. There is no relay, so any process — the supervisor included — can die without
cutting the others off. A socket file nobody listens on any more (its process was killed) is
removed by whoever finds it; the directory is scanned every second, and a new process
introduces itself to the others as it starts.

Like the other brokers this is only a fast path: a message that cannot be sent (a sibling
too far behind to take more, one that is restarting) is dropped, and the hub reads what it
missed from the store. The run directory must belong to one deployment (`serve` derives it
from the database) and is made private to the user (0700): whoever can write to it can tell
subscribers what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import stat
import struct
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from eventgate.broker.base import (
    REQUEST_TIMEOUT,
    Broker,
    BrokerHandler,
    BrokerUnavailable,
    broker_dropped,
    broker_reconnects,
    decode,
    encode,
    log,
)

SCHEME = "local"
SOCKET_SUFFIX = ".sock"
NODE_SOCKET = re.compile(r"([0-9a-f]{12})\.sock")
# How often the run directory is looked at: siblings started meanwhile, sockets left behind by
# dead processes, our own socket removed from under us (a /tmp cleaner).
SCAN_SECONDS = 1.0
CONNECT_TIMEOUT = 1.0
# Bytes waiting to go to one sibling; beyond this it is too far behind and messages to it are
# dropped (it reads them from the store).
LINK_BUFFER_LIMIT = 16 * 2**20
MAX_FRAME_BYTES = 64 * 2**20
# sockaddr_un holds 108 bytes on Linux (104 on the BSDs), the terminating NUL included.
MAX_SOCKET_PATH = 100
HEADER = struct.Struct(">I")


def run_directory_for(database_url: str) -> Path:
    """The run directory of the deployment that uses this database: one per database, so that
    two deployments on one machine never mix, and short, because socket paths are limited."""
    import sqlalchemy as sa

    from eventgate.store.database import is_sqlite, normalize_url

    url = sa.make_url(normalize_url(database_url))
    if is_sqlite(str(url)) and url.database and url.database != ":memory:":
        identity = "sqlite:" + str(Path(url.database).expanduser().resolve())
    else:
        identity = url._replace(password=None).render_as_string(hide_password=False)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"eventgate-{os.geteuid()}-{digest}"


def local_broker_url(database_url: str) -> str:
    return f"{SCHEME}://{run_directory_for(database_url)}"


def directory_of(url: str) -> Path:
    parts = urlsplit(url)
    path = unquote((parts.netloc or "") + parts.path)
    if not path.startswith("/"):
        raise ValueError(f"the local broker needs an absolute directory: local:///run/dir, not {url!r}")
    return Path(path)


def prepare_run_directory(directory: Path) -> None:
    """Create the directory private to this user, or check that an existing one is."""
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeError(f"{directory} is not a directory")
    if info.st_uid != os.geteuid():
        raise RuntimeError(f"{directory} belongs to another user; the local broker needs its own directory")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, 0o700)


class PeerLink(asyncio.Protocol):
    """One connection with one sibling: length-prefixed msgpack messages, both ways."""

    def __init__(self, broker: "LocalBroker", node_id: str | None = None) -> None:
        self.broker = broker
        self.node_id = node_id  # known at once for connections we open, after "hello" for others
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses
        self.broker._links_open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.broker._link_lost(self)

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, message: bytes) -> bool:
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        if transport.get_write_buffer_size() > LINK_BUFFER_LIMIT:
            return False
        transport.writelines((HEADER.pack(len(message)), message))
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= HEADER.size:
            (length,) = HEADER.unpack_from(buffer, start)
            if length > MAX_FRAME_BYTES:
                log.warning("closing a local broker connection that sent a %d-byte message", length)
                self.close()
                return
            end = start + HEADER.size + length
            if len(buffer) < end:
                break
            message = bytes(buffer[start + HEADER.size:end])
            start = end
            try:
                self.broker._received(self, decode(message))
            except Exception:
                log.exception("a local broker message could not be handled")
        if start:
            del buffer[:start]


class LocalBroker(Broker):
    def __init__(self, url: str, node_id: str | None = None) -> None:
        super().__init__(node_id)
        self.directory = directory_of(url)
        self.socket_path = self.directory / f"{self.node_id}{SOCKET_SUFFIX}"
        self._server: asyncio.AbstractServer | None = None
        self._socket_inode: tuple[int, int] | None = None
        self._links: dict[str, PeerLink] = {}  # node → the connection we send on
        self._links_open: set[PeerLink] = set()
        self._connecting: dict[str, asyncio.Future[PeerLink | None]] = {}
        self._replies: dict[str, tuple[asyncio.Future[dict[str, Any] | None], PeerLink]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scanner: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, handler: BrokerHandler) -> None:
        self.handler = handler
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise RuntimeError(f"the local broker's run directory {self.directory} is too long for a Unix "
                               f"socket path; give a shorter one (--broker-url local:///short/dir)")
        await self._listen()
        await self._scan()
        self._scanner = asyncio.get_running_loop().create_task(self._scan_loop())
        self._connection_changed(True)
        broker_reconnects.inc()
        handler.broker_reconnected()

    async def stop(self) -> None:
        self._stopping = True
        if self._scanner is not None:
            self._scanner.cancel()
            with contextlib.suppress(BaseException):
                await self._scanner
        for task in list(self._tasks):
            task.cancel()
        self._close_server()
        for link in list(self._links_open):
            link.close()
        for future, _ in self._replies.values():
            if not future.done():
                future.set_result(None)
        self._connection_ended()

    async def _listen(self) -> None:
        prepare_run_directory(self.directory)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # ours from an earlier bind (node ids are random)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: PeerLink(self), str(self.socket_path))
        info = os.stat(self.socket_path)
        self._socket_inode = (info.st_dev, info.st_ino)
        log.info("local broker listening on %s", self.socket_path)

    def _close_server(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._socket_is_ours():
            with contextlib.suppress(OSError):
                self.socket_path.unlink()

    def _socket_is_ours(self) -> bool:
        try:
            info = os.stat(self.socket_path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._socket_inode

    # -- the interface -------------------------------------------------------------------

    def publish_operations(self, operations: list[dict[str, Any]]) -> None:
        if not operations or not self._links:
            return
        message = encode({"node": self.node_id, "ops": operations})
        for link in list(self._links.values()):
            if not link.send(message):
                broker_dropped.inc()

    async def request(self, node_id: str, command: dict[str, Any]) -> dict[str, Any] | None:
        if self._server is None:
            raise BrokerUnavailable("the local broker is not running")
        link = self._links.get(node_id)
        if link is None or not link.open:
            link = await self._connect(node_id)
            if link is None:
                return None  # no process of this deployment has that id
        request_id = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = (future, link)
        try:
            if not link.send(encode({"id": request_id, "command": command})):
                raise BrokerUnavailable("the process holding that client is not taking messages")
            try:
                return await asyncio.wait_for(future, REQUEST_TIMEOUT)
            except TimeoutError:
                raise BrokerUnavailable("the process holding that client did not answer") from None
        finally:
            self._replies.pop(request_id, None)

    async def is_ready(self) -> bool:
        return self._server is not None and self._socket_is_ours()

    # -- siblings ------------------------------------------------------------------------

    async def _scan_loop(self) -> None:
        while True:
            await asyncio.sleep(SCAN_SECONDS)
            try:
                if not self._socket_is_ours():
                    # Someone removed our socket (or the whole directory): nobody can reach us.
                    log.warning("the local broker's socket %s is gone; listening again", self.socket_path)
                    self._close_server()
                    await self._listen()
                    broker_reconnects.inc()
                    assert self.handler is not None
                    self.handler.broker_reconnected()
                await self._scan()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("scanning the local broker directory %s failed", self.directory, exc_info=True)

    async def _scan(self) -> None:
        """Connect to every sibling we have no connection with."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        missing = []
        for name in names:
            match = NODE_SOCKET.fullmatch(name)
            if match is None or match.group(1) == self.node_id:
                continue
            link = self._links.get(match.group(1))
            if link is None or not link.open:
                missing.append(match.group(1))
        if missing:
            await asyncio.gather(*(self._connect(node_id) for node_id in missing))

    async def _connect(self, node_id: str) -> PeerLink | None:
        if NODE_SOCKET.fullmatch(node_id + SOCKET_SUFFIX) is None or node_id == self.node_id:
            return None
        pending = self._connecting.get(node_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[PeerLink | None] = asyncio.get_running_loop().create_future()
        self._connecting[node_id] = future
        link: PeerLink | None = None
        try:
            link = await self._open_link(node_id)
        finally:
            del self._connecting[node_id]
            future.set_result(link)
        return link

    async def _open_link(self, node_id: str) -> PeerLink | None:
        path = self.directory / f"{node_id}{SOCKET_SUFFIX}"
        loop = asyncio.get_running_loop()
        try:
            _, link = await asyncio.wait_for(
                loop.create_unix_connection(lambda: PeerLink(self, node_id), str(path)), CONNECT_TIMEOUT)
        except (ConnectionRefusedError, ConnectionResetError):
            # A socket file nobody listens on: its process died without removing it.
            with contextlib.suppress(OSError):
                path.unlink()
                log.info("removed the socket of a dead process: %s", path)
            return None
        except (FileNotFoundError, TimeoutError, OSError):
            return None
        if self._stopping:
            link.close()
            return None
        link.send(encode({"hello": self.node_id}))
        self._links[node_id] = link
        return link

    def _link_lost(self, link: PeerLink) -> None:
        self._links_open.discard(link)
        if link.node_id is not None and self._links.get(link.node_id) is link:
            del self._links[link.node_id]
        for future, via in list(self._replies.values()):
            if via is link and not future.done():
                future.set_result(None)  # that process is gone, and the client with it

    # -- receiving -----------------------------------------------------------------------

    def _received(self, link: PeerLink, message: dict[str, Any]) -> None:
        assert self.handler is not None
        if "ops" in message:
            if message.get("node") != self.node_id:
                self.handler.operations_received(message["ops"] or [])
        elif "reply" in message:
            entry = self._replies.get(message.get("id", ""))
            if entry is not None and not entry[0].done():
                entry[0].set_result(message["reply"])
        elif "command" in message:
            task = asyncio.get_running_loop().create_task(self._answer(link, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif "hello" in message:
            node_id = str(message["hello"])
            if NODE_SOCKET.fullmatch(node_id + SOCKET_SUFFIX) is None:
                return
            link.node_id = node_id
            current = self._links.get(node_id)
            if current is None or not current.open:
                self._links[node_id] = link

    async def _answer(self, link: PeerLink, message: dict[str, Any]) -> None:
        assert self.handler is not None
        try:
            reply = await self.handler.command_received(message["command"])
            link.send(encode({"id": message["id"], "reply": reply}))
        except Exception:
            log.exception("answering a local broker request failed")
