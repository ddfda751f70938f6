"""`eventgate serve --workers 2` with no broker behaves as one server (SPEC §6, §7).

A real `eventgate serve` subprocess with two worker processes behind one port, on SQLite and
(when configured) PostgreSQL, talking to each other through the local broker only. Which worker
holds a connection is the kernel's choice; each test finds connections on the worker it needs
(`/metrics` names the node, and a client id starts with it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from eventgate.auth.passwords import hash_password
from eventgate.config import default_workers
from eventgate.store.channels import create_channel
from eventgate.store.database import migrate, open_database
from eventgate.store.keys import create_key
from eventgate.store.workspaces import create_workspace
from tests.conftest import PASSWORD, _backends, fresh_database_url
from tests.helpers import lifecycle_body
from tests.live_client import (
    EVENTGATE,
    ServeProcess,
    create,
    free_port,
    no_event_within,
    read_events,
    read_frame,
    read_until_seq,
    sse_events,
    subscribe,
    welcome,
)
from tests.processes import client_on, node_ids, pid_of_node, wait_for_workers, worker_pids

pytestmark = pytest.mark.skipif(not Path(EVENTGATE).exists(), reason="the eventgate command is not installed")

WORKERS = 2


@dataclass
class Deployment:
    server: ServeProcess
    nodes: list[str]
    database_url: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def workspace(self) -> "Workspace":
        database = open_database(self.database_url)
        try:
            with database.writer.begin() as connection:
                workspace_id = create_workspace(connection, f"mp-{secrets.token_hex(4)}").id
                channel = create_channel(connection, workspace_id, "mp", hash_password(PASSWORD)).id
                key = create_key(connection, workspace_id, "watcher", ("subscribe", "events:read"))[0]
                intruder = create_key(connection, workspace_id, "intruder", ("subscribe",))[0]
        finally:
            database.dispose()
        return Workspace(self, channel, key, intruder)


@dataclass
class Workspace:
    deployment: Deployment
    channel: str
    key: str
    intruder_key: str

    @contextlib.contextmanager
    def subscriber_on(self, node: str, **params: Any) -> Iterator[tuple[ClientConnection, dict[str, Any]]]:
        """A WebSocket subscription held by worker `node`, and its welcome frame."""
        for _ in range(200):
            with subscribe(self.deployment.base_url, self.key, **params) as ws:
                hello = welcome(ws)
                if hello["client_id"].startswith(node):
                    yield ws, hello
                    return
        raise AssertionError(f"no subscription reached worker {node}")

    def write_through(self, node: str, count: int) -> list[str]:
        with client_on(self.deployment.base_url, node) as client:
            return [create(client, self.channel) for _ in range(count)]


@pytest.fixture(scope="module", params=_backends())
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    databases = fresh_database_url(request.param, tmp_path_factory)
    database_url = next(databases)
    database = open_database(database_url)
    migrate(database)
    database.dispose()
    server = ServeProcess(database_url, workers=WORKERS,
                          log_path=tmp_path_factory.mktemp("serve") / "serve.log").start()
    try:
        yield Deployment(server, node_ids(server.base_url, WORKERS), database_url)
    finally:
        server.stop()
        databases.close()


def test_serve_runs_the_workers_under_one_supervisor(deployment):
    assert len(worker_pids(deployment.server.process.pid)) == WORKERS


def test_readyz_is_ready_on_every_worker(deployment):
    for node in deployment.nodes:
        with client_on(deployment.base_url, node) as client:
            reply = client.get("/readyz")
        assert reply.status_code == 200, reply.text
        assert reply.json()["checks"] == {"database": True, "writer": True, "broker": True}


def test_subscribers_receive_what_every_worker_writes_in_seq_order_exactly_once(deployment):
    workspace = deployment.workspace()
    first, second = deployment.nodes
    with workspace.subscriber_on(first) as (on_first, hello_first), \
            workspace.subscriber_on(second) as (on_second, hello_second):
        written: list[str] = []
        for node in (second, first, second, first):
            written += workspace.write_through(node, 3)
        for ws, hello in ((on_first, hello_first), (on_second, hello_second)):
            frames = read_until_seq(ws, hello["seq"] + len(written))
            assert [f["seq"] for f in frames] == list(range(hello["seq"] + 1, hello["seq"] + len(written) + 1))
            assert [f["event"]["id"] for f in frames] == written
            assert no_event_within(ws, 1.5)  # nothing twice


def test_concurrent_writes_through_both_workers_reach_every_subscriber_densely(deployment):
    workspace = deployment.workspace()
    acknowledged: list[str] = []
    lock = threading.Lock()

    def produce(node: str) -> None:
        with client_on(deployment.base_url, node) as client:
            for _ in range(40):
                event_id = create(client, workspace.channel)
                with lock:
                    acknowledged.append(event_id)

    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(workspace.subscriber_on(node)) for node in deployment.nodes]
        producers = [threading.Thread(target=produce, args=(node,)) for node in deployment.nodes * 2]
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join(120)
        assert len(acknowledged) == 40 * len(producers)
        for ws, hello in held:
            frames = read_until_seq(ws, hello["seq"] + len(acknowledged))
            assert [f["seq"] for f in frames] == list(range(hello["seq"] + 1, hello["seq"] + len(acknowledged) + 1))
            assert sorted(f["event"]["id"] for f in frames) == sorted(acknowledged)


def test_an_sse_subscriber_receives_what_the_other_worker_writes(deployment):
    workspace = deployment.workspace()
    first, second = deployment.nodes
    with client_on(deployment.base_url, first) as client, \
            client.stream("GET", "/api/v1/sse/subscribe", headers={"Authorization": f"Bearer {workspace.key}"}) as reply:
        assert reply.status_code == 200
        lines = reply.iter_lines()
        hello = sse_events(lines, 1)[0]["data"]
        assert hello["type"] == "welcome" and hello["client_id"].startswith(first)
        written = workspace.write_through(second, 3)
        messages = sse_events(lines, 3)
    assert [m["data"]["seq"] for m in messages] == [hello["seq"] + 1, hello["seq"] + 2, hello["seq"] + 3]
    assert [m["id"] for m in messages] == [str(m["data"]["seq"]) for m in messages]
    assert [m["data"]["event"]["id"] for m in messages] == written


def test_resume_with_since_replays_what_the_other_worker_wrote_then_goes_live(deployment):
    workspace = deployment.workspace()
    first, second = deployment.nodes
    before = workspace.write_through(second, 4)
    with workspace.subscriber_on(first, since=0) as (ws, hello):
        replayed = read_events(ws, 4)
        after = workspace.write_through(second, 2)
        live = read_events(ws, 2)
        assert no_event_within(ws, 1.5)
    assert hello["seq"] >= 4
    assert [f["seq"] for f in replayed + live] == [1, 2, 3, 4, 5, 6]
    assert [f["event"]["id"] for f in replayed + live] == before + after


def test_unsubscribe_through_one_worker_narrows_a_subscriber_held_by_the_other(deployment):
    workspace = deployment.workspace()
    first, second = deployment.nodes
    with workspace.subscriber_on(first) as (ws, hello):
        with client_on(deployment.base_url, second) as through_second:
            reply = through_second.post("/api/v1/ws/unsubscribe", headers={"Authorization": f"Bearer {workspace.key}"},
                                        json={"client_id": hello["client_id"], "event_types": ["event_created"]})
            assert reply.status_code == 200, reply.text
            assert reply.json()["data"]["excluded_event_types"] == ["event_created"]
            event_id = create(through_second, workspace.channel)
            closed = through_second.post("/event/close", json=lifecycle_body(workspace.channel, event_id))
            assert closed.status_code == 200, closed.text
        frames = read_events(ws, 1)
        assert no_event_within(ws, 1.5)
    assert [(f["event_type"], f["seq"]) for f in frames] == [("event_closed", hello["seq"] + 2)]


def test_unsubscribe_through_the_other_worker_checks_the_owner_and_the_client(deployment):
    workspace = deployment.workspace()
    first, second = deployment.nodes
    with workspace.subscriber_on(first) as (_, hello), client_on(deployment.base_url, second) as through_second:
        intruder = through_second.post("/api/v1/ws/unsubscribe",
                                       headers={"Authorization": f"Bearer {workspace.intruder_key}"},
                                       json={"client_id": hello["client_id"], "event_types": ["event_created"]})
        unknown = through_second.post("/api/v1/ws/unsubscribe",
                                      headers={"Authorization": f"Bearer {workspace.key}"},
                                      json={"client_id": first + secrets.token_hex(10),
                                            "event_types": ["event_created"]})
        no_such_worker = through_second.post("/api/v1/ws/unsubscribe",
                                             headers={"Authorization": f"Bearer {workspace.key}"},
                                             json={"client_id": secrets.token_hex(16),
                                                   "event_types": ["event_created"]})
    assert intruder.status_code == 403
    assert unknown.status_code == 404
    assert no_such_worker.status_code == 404


def test_a_killed_worker_is_replaced_and_its_subscribers_resume_on_the_other(deployment):
    workspace = deployment.workspace()
    supervisor = deployment.server.process.pid
    first, second = deployment.nodes
    with workspace.subscriber_on(first) as (ws, hello):
        written = workspace.write_through(second, 3)
        frames = read_events(ws, 3)
        victim = pid_of_node(deployment.base_url, first)
        assert victim in worker_pids(supervisor)
        os.kill(victim, signal.SIGKILL)
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            while True:
                read_frame(ws, timeout=10)
    written += workspace.write_through(second, 3)  # the survivor keeps serving meanwhile
    with workspace.subscriber_on(second, since=frames[-1]["seq"]) as (resumed, _):
        frames += read_events(resumed, 3)
    assert [f["seq"] for f in frames] == list(range(hello["seq"] + 1, hello["seq"] + 7))
    assert [f["event"]["id"] for f in frames] == written

    replacements = wait_for_workers(supervisor, WORKERS, other_than={victim})
    deployment.nodes = node_ids(deployment.base_url, WORKERS)
    assert second in deployment.nodes and first not in deployment.nodes
    new = next(node for node in deployment.nodes if node != second)
    with workspace.subscriber_on(new) as (ws, hello):
        written = workspace.write_through(second, 2)
        assert [f["event"]["id"] for f in read_events(ws, 2)] == written
    assert len(replacements) == WORKERS


# -- how many workers ------------------------------------------------------------------------


@pytest.mark.parametrize("variable,workers", [(None, default_workers()), ("3", 3), ("1", 1)],
                         ids=["default", "EVENTGATE_WORKERS=3", "EVENTGATE_WORKERS=1"])
def test_serve_runs_one_worker_per_cpu_unless_told_otherwise(variable, workers, tmp_path):
    """With no flag, one worker per available CPU; `--workers 1` (here its variable) keeps one
    process that serves by itself."""
    expected = workers if workers > 1 else 0  # child processes
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTGATE_")}
    if variable is not None:
        env["EVENTGATE_WORKERS"] = variable
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen([EVENTGATE, "serve", "--port", str(port), "--database-url",
                                    f"sqlite:///{tmp_path}/eventgate.db", "--log-level", "warning"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if expected:
            wait_for_workers(process.pid, expected)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "eventgate serve did not become ready"
            time.sleep(0.1)
        assert len(worker_pids(process.pid)) == expected
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
