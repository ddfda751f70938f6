"""The local broker (`local:///run/dir`) carries operations and requests between the processes
of one machine over Unix sockets: here several broker instances in one event loop, as several
worker processes would hold them, and two servers in this process sharing one database."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from eventgate.broker import open_broker
from eventgate.broker.local import LocalBroker, run_directory_for
from tests.broker_node import Node, operation
from tests.conftest import start_server
from tests.live_client import LiveWorkspace, create, read_events, subscribe, welcome


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # Socket paths are short (108 bytes): pytest's own directories can be too long.
    base = Path(tempfile.mkdtemp(prefix="eg-"))
    yield base / "run"
    shutil.rmtree(base, ignore_errors=True)


async def _nodes(run_dir: Path, count: int) -> tuple[list[LocalBroker], list[Node]]:
    brokers = [open_broker(f"local://{run_dir}") for _ in range(count)]
    nodes = [Node() for _ in range(count)]
    for broker, node in zip(brokers, nodes):
        await broker.start(node)  # type: ignore[arg-type]
    return brokers, nodes  # type: ignore[return-value]


async def _stop(brokers: list[LocalBroker]) -> None:
    for broker in brokers:
        await broker.stop()


def test_local_url_selects_the_local_broker(run_dir):
    broker = open_broker(f"local://{run_dir}")
    assert isinstance(broker, LocalBroker) and broker.directory == run_dir


def test_operations_published_by_one_node_reach_every_other_but_not_itself(run_dir):
    async def scenario() -> list[list[int]]:
        brokers, nodes = await _nodes(run_dir, 3)
        try:
            brokers[0].publish_operations([operation(1), operation(2)])
            await nodes[1].wait_for(2)
            await nodes[2].wait_for(2)
            await asyncio.sleep(0.1)
            return [[op["seq"] for op in node.operations] for node in nodes]
        finally:
            await _stop(brokers)

    assert asyncio.run(scenario()) == [[], [1, 2], [1, 2]]


def test_a_large_batch_arrives_whole_and_in_order(run_dir):
    async def scenario() -> list[int]:
        brokers, nodes = await _nodes(run_dir, 2)
        try:
            brokers[0].publish_operations([operation(seq, size=20_000) for seq in range(1, 61)])
            brokers[0].publish_operations([operation(61)])
            return [op["seq"] for op in await nodes[1].wait_for(61)]
        finally:
            await _stop(brokers)

    assert asyncio.run(scenario()) == list(range(1, 62))


def test_a_node_started_later_hears_the_others_at_once(run_dir):
    async def scenario() -> list[int]:
        brokers, nodes = await _nodes(run_dir, 1)
        late, late_node = open_broker(f"local://{run_dir}"), Node()
        await late.start(late_node)  # type: ignore[arg-type]
        try:
            brokers[0].publish_operations([operation(7)])  # without waiting for a directory scan
            return [op["seq"] for op in await late_node.wait_for(1, timeout=0.5)]
        finally:
            await _stop([*brokers, late])  # type: ignore[list-item]

    assert asyncio.run(scenario()) == [7]


def test_a_request_reaches_its_node_and_returns_the_reply(run_dir):
    async def scenario() -> Any:
        brokers, _ = await _nodes(run_dir, 3)
        try:
            return await brokers[0].request(brokers[2].node_id, {"kind": "unsubscribe", "client_id": "c1"})
        finally:
            await _stop(brokers)

    assert asyncio.run(scenario()) == {"result": "ok", "echo": {"kind": "unsubscribe", "client_id": "c1"}}


def test_a_request_to_a_node_nobody_runs_is_none(run_dir):
    async def scenario() -> Any:
        brokers, _ = await _nodes(run_dir, 2)
        try:
            return [await brokers[0].request("0" * 12, {"kind": "unsubscribe"}),
                    await brokers[0].request("../../etc/x", {"kind": "unsubscribe"})]
        finally:
            await _stop(brokers)

    assert asyncio.run(scenario()) == [None, None]


def _leave_a_dead_socket(run_dir: Path, node_id: str) -> Path:
    """What a process killed with SIGKILL leaves behind: a socket file nobody listens on."""
    path = run_dir / f"{node_id}.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    return path


def test_the_socket_of_a_dead_process_is_removed_and_requests_to_it_are_none(run_dir):
    async def scenario() -> tuple[Any, bool, bool]:
        brokers, nodes = await _nodes(run_dir, 1)
        dead = _leave_a_dead_socket(run_dir, "d" * 12)
        other = _leave_a_dead_socket(run_dir, "e" * 12)
        try:
            reply = await brokers[0].request("d" * 12, {"kind": "unsubscribe"})
            brokers[0].publish_operations([operation(1)])  # nobody to send to; must not fail
            await brokers[0]._scan()
            return reply, dead.exists(), other.exists()
        finally:
            await _stop(brokers)

    assert asyncio.run(scenario()) == (None, False, False)


def test_a_dead_sibling_is_dropped_and_the_others_keep_talking(run_dir):
    async def scenario() -> list[int]:
        brokers, nodes = await _nodes(run_dir, 3)
        try:
            await brokers[1].stop()  # as if it died: its connections close
            await asyncio.sleep(0.05)
            brokers[0].publish_operations([operation(1)])
            return [op["seq"] for op in await nodes[2].wait_for(1)]
        finally:
            await _stop([brokers[0], brokers[2]])

    assert asyncio.run(scenario()) == [1]


def test_the_run_directory_is_private_to_the_user(run_dir):
    run_dir.mkdir(mode=0o755, parents=True)
    os.chmod(run_dir, 0o755)

    async def scenario() -> None:
        brokers, _ = await _nodes(run_dir, 1)
        await _stop(brokers)

    asyncio.run(scenario())
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700


def test_a_socket_removed_from_under_a_node_is_bound_again(run_dir, monkeypatch):
    monkeypatch.setattr("eventgate.broker.local.SCAN_SECONDS", 0.05)

    async def scenario() -> tuple[bool, bool, int]:
        brokers, nodes = await _nodes(run_dir, 1)
        try:
            brokers[0].socket_path.unlink()  # a /tmp cleaner, say
            gone = await brokers[0].is_ready()
            deadline = time.monotonic() + 5
            while not await brokers[0].is_ready() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return gone, await brokers[0].is_ready(), nodes[0].reconnections
        finally:
            await _stop(brokers)

    assert asyncio.run(scenario()) == (False, True, 2)  # the hub is told to catch up each time


def test_stopping_removes_the_socket(run_dir):
    async def scenario() -> Path:
        brokers, _ = await _nodes(run_dir, 1)
        await _stop(brokers)
        return brokers[0].socket_path

    assert not asyncio.run(scenario()).exists()


def test_each_database_has_its_own_run_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = run_directory_for("sqlite:///./data/eventgate.db")
    assert relative == run_directory_for(f"sqlite:///{tmp_path}/data/eventgate.db")
    assert relative != run_directory_for(f"sqlite:///{tmp_path}/other.db")
    postgres = run_directory_for("postgresql://app:secret@db.example/events")
    assert postgres == run_directory_for("postgresql://app:rotated@db.example/events")
    assert postgres != run_directory_for("postgresql://app@db.example/other")
    assert "secret" not in str(postgres) and len(str(postgres / "0123456789ab.sock")) < 100


# -- a message the broker drops still reaches the subscriber ---------------------------------


def test_an_operation_whose_message_was_dropped_still_reaches_a_subscriber_of_another_process(
        database_url, run_dir):
    """The last event for a while, its message lost: the other process's hub finds it in the
    store on its own (it compares its position with the store's every second)."""
    first = start_server(_settings(database_url, run_dir))
    second = start_server(_settings(database_url, run_dir))
    try:
        workspace = LiveWorkspace(first)
        first.runtime.broker.publish_operations = lambda operations: None  # every message lost
        with subscribe(second.base_url, workspace.key) as ws, httpx.Client(base_url=first.base_url) as client:
            start = welcome(ws)["seq"]
            event_id = create(client, workspace.channel)
            frames = read_events(ws, 1, timeout=10)
        assert [f["seq"] for f in frames] == [start + 1]
        assert frames[0]["event"]["id"] == event_id
    finally:
        first.stop()
        second.stop()


def test_two_processes_sharing_a_run_directory_deliver_each_others_operations_at_once(database_url, run_dir):
    first = start_server(_settings(database_url, run_dir))
    second = start_server(_settings(database_url, run_dir))
    try:
        # Only the broker may bring them: the store comparison waits an hour from its next round.
        second.runtime.hub.reconcile_seconds = 3600
        time.sleep(1.2)
        workspace = LiveWorkspace(first)
        with subscribe(second.base_url, workspace.key) as ws, httpx.Client(base_url=first.base_url) as client:
            start = welcome(ws)["seq"]
            ids = [create(client, workspace.channel) for _ in range(3)]
            frames = read_events(ws, 3)
        assert [f["seq"] for f in frames] == [start + 1, start + 2, start + 3]
        assert [f["event"]["id"] for f in frames] == ids
    finally:
        first.stop()
        second.stop()


def _settings(database_url: str, run_dir: Path):  # type: ignore[no-untyped-def]
    from eventgate.config import Settings

    return Settings(database_url=database_url, broker_url=f"local://{run_dir}", workers=1)
