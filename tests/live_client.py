"""What the live-delivery tests share: WebSocket and SSE clients, producers, frame readers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlencode

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.conftest import PASSWORD
from tests.helpers import body_form, lifecycle_body

WS_PATH = "/api/v1/ws/subscribe"
SSE_PATH = "/api/v1/sse/subscribe"


def ws_url(base_url: str, path: str = WS_PATH, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return base_url.replace("http://", "ws://", 1) + path + (f"?{query}" if query else "")


@contextmanager
def subscribe(base_url: str, key: str | None, *, headers: dict[str, str] | None = None,
              **params: Any) -> Iterator[ClientConnection]:
    """A WebSocket subscription (the welcome frame not yet read)."""
    all_headers = dict(headers or {})
    if key is not None:
        all_headers.setdefault("Authorization", f"Bearer {key}")
    with connect(ws_url(base_url, **params), additional_headers=all_headers, open_timeout=20,
                 max_size=None) as ws:
        yield ws


def refusal(base_url: str, key: str | None, *, headers: dict[str, str] | None = None,
            **params: Any) -> tuple[int, dict[str, Any]]:
    """The HTTP status and seed-004 body of a refused WebSocket upgrade."""
    try:
        with subscribe(base_url, key, headers=headers, **params):
            pass
    except InvalidStatus as refused:
        return refused.response.status_code, json.loads(refused.response.body or b"{}")
    raise AssertionError("the upgrade was accepted")


def read_frame(ws: ClientConnection, timeout: float = 20) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def welcome(ws: ClientConnection) -> dict[str, Any]:
    frame = read_frame(ws)
    assert frame["type"] == "welcome", frame
    return frame


def read_events(ws: ClientConnection, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The next `count` event frames (heartbeats skipped)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(events) < count:
        frame = read_frame(ws, max(0.1, deadline - time.monotonic()))
        if frame["type"] == "event":
            events.append(frame)
    return events


def read_until_seq(ws: ClientConnection, seq: int, timeout: float = 60) -> list[dict[str, Any]]:
    """Event frames until one with `seq` or more arrives."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not events or events[-1]["seq"] < seq:
        frame = read_frame(ws, max(0.1, deadline - time.monotonic()))
        if frame["type"] == "event":
            events.append(frame)
    return events


def no_event_within(ws: ClientConnection, seconds: float) -> bool:
    """True when no event frame arrives within `seconds` (heartbeats ignored)."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        try:
            frame = read_frame(ws, remaining)
        except TimeoutError:
            return True
        if frame["type"] == "event":
            return False


def close_code(ws: ClientConnection, timeout: float = 60) -> tuple[int | None, str, list[dict[str, Any]]]:
    """Read until the server closes: (close code, reason, event frames read on the way)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            frame = read_frame(ws, max(0.1, deadline - time.monotonic()))
            if frame["type"] == "event":
                events.append(frame)
    except ConnectionClosed as closed:
        received = closed.rcvd
        return (received.code if received else None), (received.reason if received else ""), events


def create(client: httpx.Client, channel: str, **fields: Any) -> str:
    reply = client.post("/event/create", json=body_form(channel, **fields))
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]["event_id"]


def update(client: httpx.Client, channel: str, event_id: str, **fields: Any) -> None:
    reply = client.post("/event/update", json=lifecycle_body(channel, event_id, **fields))
    assert reply.status_code == 200, reply.text


def close(client: httpx.Client, channel: str, event_id: str, **fields: Any) -> None:
    reply = client.post("/event/close", json=lifecycle_body(channel, event_id, **fields))
    assert reply.status_code == 200, reply.text


class Producers:
    """Threads that create events until stopped; every acknowledged event id is kept."""

    def __init__(self, base_url: str, channel: str, threads: int = 3, *, until_error: bool = False,
                 **fields: Any) -> None:
        self.base_url = base_url
        self.channel = channel
        self.until_error = until_error  # stop quietly at the first failure (a server being killed)
        self.fields = fields
        self.acknowledged: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    event_id = create(client, self.channel, **self.fields)
                except (httpx.HTTPError, AssertionError):
                    if self.until_error:
                        return
                    raise
                with self._lock:
                    self.acknowledged.append(event_id)

    def __enter__(self) -> "Producers":
        for thread in self._threads:
            thread.start()
        return self

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count:
            assert time.monotonic() < deadline, "producers too slow"
            time.sleep(0.01)

    def stop(self) -> list[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return list(self.acknowledged)

    def __exit__(self, *exc: object) -> None:
        self.stop()


def latest_seq(base_url: str, key: str) -> int:
    with subscribe(base_url, key) as ws:
        return welcome(ws)["seq"]


def sse_events(lines: Iterator[str], count: int, *, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Parse Server-Sent Events from a line iterator until `count` messages with data arrived
    (leaving out those whose data's `type` is in `skip`, e.g. the heartbeats of a slow run)."""
    messages: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if "data" in current and current["data"].get("type") not in skip:
                messages.append(current)
                if len(messages) >= count:
                    return messages
            current = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            current["data"] = json.loads(value)
        else:
            current[name] = value
    return messages


class LiveWorkspace:
    """A fresh workspace with a channel and a subscribe key: its seq starts at 0."""

    def __init__(self, server: Any, user: str = "watcher") -> None:
        self.server = server
        self.base_url = server.base_url
        self.workspace_id = server.create_workspace()
        self.channel = server.create_channel(workspace_id=self.workspace_id)
        self.key = server.create_key(("subscribe", "events:read", "types:read"), workspace_id=self.workspace_id,
                                     user=user)
        self.client = server.client()

    def new_key(self, scopes: tuple[str, ...] = ("subscribe",), **kwargs: Any) -> str:
        return self.server.create_key(scopes, workspace_id=self.workspace_id, **kwargs)

    def new_channel(self) -> str:
        return self.server.create_channel(workspace_id=self.workspace_id)

    def subscribe(self, key: str | None = None, **params: Any):  # type: ignore[no-untyped-def]
        return subscribe(self.base_url, self.key if key is None else key, **params)

    def create(self, **fields: Any) -> str:
        channel = fields.pop("channel", self.channel)
        return create(self.client, channel, **fields)

    def create_typed(self, event_type: str, **fields: Any) -> str:
        channel = fields.pop("channel", self.channel)
        return create_typed(self.client, channel, event_type, **fields)


@pytest.fixture
def live(server: Any) -> LiveWorkspace:
    return LiveWorkspace(server)


def create_typed(client: httpx.Client, channel: str, event_type: str, **fields: Any) -> str:
    """Create through the path form, which carries a CUSTOM event_type."""
    body = {"password": PASSWORD, "event_type": event_type, **fields}
    reply = client.post(f"/v1/channel/{channel}/event/create", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["event_id"]


# -- real server processes ------------------------------------------------------------------

EVENTGATE = str(Path(sys.executable).parent / "eventgate")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    """`eventgate serve` in a subprocess (what production runs), on 127.0.0.1."""

    def __init__(self, database_url: str, broker_url: str | None = None, *, port: int | None = None,
                 workers: int = 1, log_path: Path | None = None) -> None:
        self.database_url = database_url
        self.broker_url = broker_url
        self.port = port or free_port()
        self.workers = workers
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        command = [EVENTGATE, "serve", "--port", str(self.port), "--database-url", self.database_url,
                   "--log-level", "warning", "--workers", str(self.workers)]
        if self.broker_url:
            command += ["--broker-url", self.broker_url]
        return command

    def start(self, *, wait: bool = True) -> "ServeProcess":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTGATE_")}
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=log, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, \
                f"eventgate serve exited with {self.process.returncode if self.process else None}"
            try:
                if httpx.get(self.base_url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("eventgate serve did not become ready")

    def kill(self) -> None:
        """Die at once, as a crashed process does."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)

    def __enter__(self) -> "ServeProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def prepare_database(database_url: str, user: str = "watcher") -> tuple[str, str]:
    """Migrate a database for server processes; returns (a channel, a subscribe key) of `default`."""
    from eventgate.auth.passwords import hash_password
    from eventgate.store.channels import create_channel
    from eventgate.store.database import migrate, open_database
    from eventgate.store.keys import create_key

    database = open_database(database_url)
    try:
        migrate(database)
        with database.writer.begin() as connection:
            channel = create_channel(connection, "default", "live", hash_password(PASSWORD)).id
            key, _ = create_key(connection, "default", user, ("subscribe", "events:read"))
    finally:
        database.dispose()
    return channel, key


class LineReader(threading.Thread):
    """Collects a subprocess's output lines as they come."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[str] = []

    def run(self) -> None:
        for line in iter(self.stream.readline, b""):
            self.lines.append(line.decode().rstrip("\n"))

    def wait_for(self, count: int, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            assert time.monotonic() < deadline, f"only {len(self.lines)} lines: {self.lines[-3:]}"
            time.sleep(0.05)
        return list(self.lines)


def start_frames_server(**overrides: Any) -> Any:
    """A server in this process speaking WebSocket through api.live_transport (as `eventgate
    serve` does), so that frames take the direct path rather than ASGI messages."""
    from eventgate.api.live_transport import LiveWebSocketProtocol
    from eventgate.config import Settings
    from tests.conftest import start_server

    return start_server(Settings(**overrides), ws=LiveWebSocketProtocol, ws_per_message_deflate=False)


@pytest.fixture(scope="session")
def frames_server_factory(database_url: str) -> Iterator[Any]:
    started: list[Any] = []

    def start(**overrides: Any) -> Any:
        running = start_frames_server(database_url=database_url, **overrides)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="session", params=["asgi", "frames"])
def both_servers(request: pytest.FixtureRequest, server: Any, frames_server_factory: Any) -> Any:
    """The default server (frames as ASGI messages) and one whose sockets take frames directly."""
    return server if request.param == "asgi" else frames_server_factory()


@pytest.fixture
def live_both(both_servers: Any) -> LiveWorkspace:
    """A fresh workspace on each kind of server (needs both_servers and frames_server_factory imported)."""
    return LiveWorkspace(both_servers)
