"""Several `eventgate serve` processes on one PostgreSQL and one broker behave as one server.

Real processes, the machine's PostgreSQL and brokers (EVENTGATE_TEST_DATABASE_URL,
EVENTGATE_TEST_BROKER_URL), and for outages private redis-server / nats-server processes
that the tests stop and start.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import time
from typing import Any, Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from eventgate.auth.keys import DEFAULT_SCOPES
from eventgate.auth.passwords import hash_password
from eventgate.store.channels import create_channel
from eventgate.store.database import migrate, open_database
from eventgate.store.keys import create_key
from eventgate.store.workspaces import create_workspace
from tests.conftest import PASSWORD, TEST_DATABASE_URL, broker_urls, fresh_postgres_url
from tests.live_client import (
    LiveWorkspace,
    Producers,
    ServeProcess,
    create,
    free_port,
    read_events,
    read_frame,
    read_until_seq,
    subscribe,
    welcome,
)

pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs EVENTGATE_TEST_DATABASE_URL (PostgreSQL)")


def _with_prefix(url: str) -> str:
    """A broker URL private to one test: deployments sharing a broker use different prefixes."""
    return f"{url}{'&' if '?' in url else '?'}prefix=egtest{secrets.token_hex(4)}"


class Seeder:
    """Creates workspaces, channels and keys directly in the shared database."""

    def __init__(self, database_url: str, base_url: str) -> None:
        self.database = open_database(database_url)
        migrate(self.database)
        self.base_url = base_url
        self._clients: list[httpx.Client] = []

    def create_workspace(self) -> str:
        with self.database.writer.begin() as connection:
            return create_workspace(connection, f"ws-{secrets.token_hex(4)}").id

    def create_channel(self, *, workspace_id: str = "default") -> str:
        with self.database.writer.begin() as connection:
            return create_channel(connection, workspace_id, "live", hash_password(PASSWORD)).id

    def create_key(self, scopes: tuple[str, ...] = DEFAULT_SCOPES, *, workspace_id: str = "default",
                   user: str = "tester", channels: tuple[str, ...] | None = None) -> str:
        with self.database.writer.begin() as connection:
            return create_key(connection, workspace_id, user, scopes, channels)[0]

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, timeout=30)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self.database.dispose()


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from fresh_postgres_url()


def _broker_params() -> list[Any]:
    urls = broker_urls()
    return urls or [pytest.param(None, marks=pytest.mark.skip(reason="needs EVENTGATE_TEST_BROKER_URL"))]


@pytest.fixture(scope="module", params=_broker_params(), ids=lambda url: (url or "none").split(":")[0])
def pair(request, pg_url, tmp_path_factory) -> Iterator[tuple[ServeProcess, ServeProcess, Seeder]]:  # type: ignore[no-untyped-def]
    """Two server processes, A and B, on one PostgreSQL database and one broker."""
    broker_url = _with_prefix(request.param)
    logs = tmp_path_factory.mktemp("logs")
    seeder = Seeder(pg_url, "")
    first = ServeProcess(pg_url, broker_url, log_path=logs / "a.log").start(wait=False)
    second = ServeProcess(pg_url, broker_url, log_path=logs / "b.log").start(wait=False)
    try:
        first.wait_ready()
        second.wait_ready()
        yield first, second, seeder
    finally:
        first.stop()
        second.stop()
        seeder.close()


def _workspace(seeder: Seeder, process: ServeProcess) -> LiveWorkspace:
    seeder.base_url = process.base_url
    return LiveWorkspace(seeder)


def test_subscriber_on_one_process_receives_operations_written_through_another(pair):
    first, second, seeder = pair
    workspace = _workspace(seeder, first)
    with subscribe(first.base_url, workspace.key) as ws:
        start = welcome(ws)["seq"]
        with httpx.Client(base_url=second.base_url, timeout=30) as through_second:
            ids = [create(through_second, workspace.channel) for _ in range(3)]
        frames = read_events(ws, 3)
    assert [f["seq"] for f in frames] == [start + 1, start + 2, start + 3]
    assert [f["event"]["id"] for f in frames] == ids


def test_unsubscribe_sent_to_one_process_narrows_a_connection_held_by_another(pair):
    first, second, seeder = pair
    workspace = _workspace(seeder, first)
    with subscribe(first.base_url, workspace.key) as ws:
        client_id = welcome(ws)["client_id"]
        reply = httpx.post(second.base_url + "/api/v1/ws/unsubscribe", timeout=30,
                           headers={"Authorization": f"Bearer {workspace.key}"},
                           json={"client_id": client_id, "event_types": ["event_created"]})
        assert reply.status_code == 200, reply.text
        assert reply.json()["data"]["excluded_event_types"] == ["event_created"]
        with httpx.Client(base_url=second.base_url, timeout=30) as through_second:
            event_id = create(through_second, workspace.channel)
            through_second.post("/event/close", json={
                "channel_id": workspace.channel, "password": PASSWORD, "event_id": event_id, "status": "done",
                "message": "closed", "severity": "low", "event_time": int(time.time())}).raise_for_status()
        frames = read_events(ws, 1)
    assert frames[0]["event_type"] == "event_closed"


def test_unsubscribe_through_another_process_checks_the_owner(pair):
    first, second, seeder = pair
    workspace = _workspace(seeder, first)
    intruder = workspace.new_key(user="intruder")
    with subscribe(first.base_url, workspace.key) as ws:
        client_id = welcome(ws)["client_id"]
        reply = httpx.post(second.base_url + "/api/v1/ws/unsubscribe", timeout=30,
                           headers={"Authorization": f"Bearer {intruder}"},
                           json={"client_id": client_id, "event_types": ["event_created"]})
    assert reply.status_code == 403


def test_unsubscribe_of_a_client_no_process_holds_is_404(pair):
    first, second, seeder = pair
    workspace = _workspace(seeder, first)
    reply = httpx.post(second.base_url + "/api/v1/ws/unsubscribe", timeout=30,
                       headers={"Authorization": f"Bearer {workspace.key}"},
                       json={"client_id": secrets.token_hex(16), "event_types": ["event_created"]})
    assert reply.status_code == 404


@pytest.mark.parametrize("client_id", ["string", "a b*>", "z" * 32])
def test_unsubscribe_of_a_malformed_client_id_is_404(pair, client_id):
    first, second, seeder = pair
    workspace = _workspace(seeder, first)
    reply = httpx.post(second.base_url + "/api/v1/ws/unsubscribe", timeout=30,
                       headers={"Authorization": f"Bearer {workspace.key}"},
                       json={"client_id": client_id, "event_types": ["event_created"]})
    assert reply.status_code == 404


def test_readyz_reports_the_broker(pair):
    first, _, _ = pair
    reply = httpx.get(first.base_url + "/readyz", timeout=30)
    assert reply.status_code == 200
    assert reply.json()["checks"]["broker"] is True


def test_subscribers_of_a_dead_process_resume_on_another_without_loss(pair):
    first, second, seeder = pair
    workspace = _workspace(seeder, first)
    survivors: list[tuple[int, list[dict]]] = []
    with contextlib.ExitStack() as stack:
        held = []
        for _ in range(3):
            ws = stack.enter_context(subscribe(first.base_url, workspace.key))
            held.append((ws, welcome(ws)["seq"]))
        with Producers(second.base_url, workspace.channel, threads=2) as producers, \
                Producers(first.base_url, workspace.channel, threads=1, until_error=True):
            producers.wait_for(15)
            seen: list[list[dict]] = []
            for ws, start in held:
                seen.append(read_events(ws, 5))
            first.kill()  # A dies with its subscribers mid-stream
            for (ws, start), frames in zip(held, seen):
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    while True:  # whatever A managed to send before dying
                        frame = read_frame(ws, timeout=10)
                        if frame["type"] == "event":
                            frames.append(frame)
                survivors.append((start, frames))
            producers.wait_for(len(producers.acknowledged) + 15)
        # The producer through A stops at its first failure; those through B go on until here.
    total = _latest(second, workspace.key)
    for start, frames in survivors:
        resume_from = frames[-1]["seq"]
        with subscribe(second.base_url, workspace.key, since=resume_from) as ws:
            welcome(ws)
            frames += read_until_seq(ws, total)
        assert [f["seq"] for f in frames] == list(range(start + 1, total + 1))
    first.start()  # leave the pair as it was for the tests that follow


def _latest(process: ServeProcess, key: str) -> int:
    with subscribe(process.base_url, key) as ws:
        return welcome(ws)["seq"]


# -- broker outages ------------------------------------------------------------------------


class BrokerProcess:
    """A private redis-server or nats-server, to stop and start at will."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.kind}://127.0.0.1:{self.port}"

    def start(self) -> "BrokerProcess":
        if self.kind == "redis":
            command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no"]
        else:
            command = ["nats-server", "-a", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return self
            time.sleep(0.05)
        raise AssertionError(f"{self.kind} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def _outage_params() -> list[Any]:
    params = []
    for kind, binary in (("redis", "redis-server"), ("nats", "nats-server")):
        marks = [] if shutil.which(binary) else [pytest.mark.skip(reason=f"{binary} is not installed")]
        params.append(pytest.param(kind, marks=marks, id=kind))
    return params


def _wait_ready(process: ServeProcess, ready: bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (httpx.get(process.base_url + "/readyz", timeout=10).status_code == 200) != ready:
        assert time.monotonic() < deadline, f"readyz never became {'200' if ready else '503'}"
        time.sleep(0.1)


@pytest.mark.parametrize("kind", _outage_params())
def test_broker_outage_keeps_writes_and_subscribers_catch_up_from_the_store(kind, pg_url, tmp_path):
    broker = BrokerProcess(kind).start()
    seeder = Seeder(pg_url, "")
    first = ServeProcess(pg_url, broker.url, log_path=tmp_path / "a.log").start(wait=False)
    second = ServeProcess(pg_url, broker.url, log_path=tmp_path / "b.log").start(wait=False)
    try:
        first.wait_ready()
        second.wait_ready()
        workspace = _workspace(seeder, first)
        with subscribe(first.base_url, workspace.key) as ws, \
                httpx.Client(base_url=second.base_url, timeout=30) as through_second:
            start = welcome(ws)["seq"]
            create(through_second, workspace.channel)
            broker.stop()
            _wait_ready(first, ready=False)
            during = [create(through_second, workspace.channel) for _ in range(5)]  # acknowledged: durable
            seen = read_events(ws, 6)  # the hub finds them in the store without the broker
            broker.start()
            _wait_ready(first, ready=True)
            _wait_ready(second, ready=True)
            after = [create(through_second, workspace.channel) for _ in range(5)]
            seen += read_events(ws, 5)
        assert [f["seq"] for f in seen] == list(range(start + 1, start + 12))
        assert [f["event"]["id"] for f in seen[1:6]] == during
        assert [f["event"]["id"] for f in seen[6:]] == after
    finally:
        first.stop()
        second.stop()
        broker.stop()
        seeder.close()


# -- several workers -------------------------------------------------------------------------


@pytest.mark.parametrize("broker_url", _broker_params())
def test_workers_of_one_serve_share_subscribers_through_the_broker(broker_url, pg_url, tmp_path):
    seeder = Seeder(pg_url, "")
    server = ServeProcess(pg_url, _with_prefix(broker_url), workers=2, log_path=tmp_path / "serve.log").start()
    try:
        workspace = _workspace(seeder, server)
        with contextlib.ExitStack() as stack:
            held = []
            nodes: set[str] = set()
            for _ in range(40):  # the kernel spreads connections over the workers
                ws = stack.enter_context(subscribe(server.base_url, workspace.key))
                hello = welcome(ws)
                held.append((ws, hello["seq"]))
                nodes.add(hello["client_id"][:12])
                if len(nodes) == 2 and len(held) >= 4:
                    break
            assert len(nodes) == 2, "every connection landed on one worker"
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                ids = [create(client, workspace.channel) for _ in range(6)]
            for ws, start in held:
                frames = read_until_seq(ws, start + 6)
                assert [f["event"]["id"] for f in frames] == ids
    finally:
        server.stop()
        seeder.close()
