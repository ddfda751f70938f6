"""Nothing acknowledged is ever lost (SPEC §8): an operation answered with 200 survives `kill -9`.

A real `eventgate serve` subprocess takes concurrent create → update → close cycles; one of its
processes is killed with SIGKILL in the middle of the load — the only one (`--workers 1`), the
supervisor of two workers, or one of those workers — and every acknowledged operation must then
be in the store and in the event's timeline, with `seq` dense and strictly increasing in the
workspace, before and after a restart on the same database. A killed worker is replaced while
the other keeps serving; the workers of a killed supervisor shut down and free the port.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from eventgate.auth.passwords import hash_password
from eventgate.store.channels import create_channel
from eventgate.store.database import migrate, open_database
from eventgate.store.keys import create_key
from eventgate.store.schema import operations, sequences
from eventgate.store.workspaces import create_workspace
from tests.processes import wait_for_workers, wait_until_dead

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
PASSWORD = "durable-password-1"
CONCURRENCY = 32
ACKNOWLEDGED_BEFORE_KILL = 600
# After a worker is killed, the server must go on acknowledging this many more.
ACKNOWLEDGED_AFTER_WORKER_KILL = 300

pytestmark = pytest.mark.skipif(not Path(EVENTGATE).exists(), reason="the eventgate command is not installed")


@dataclass
class Acknowledged:
    """What the server confirmed with a 200, per event: the op_ids in the order they were sent."""

    ops: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # event_id → [(kind, op_id)]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event_id: str, kind: str, op_id: str) -> None:
        with self.lock:
            self.ops.setdefault(event_id, []).append((kind, op_id))

    def count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.ops.values())


class Server:
    """`eventgate serve` as a subprocess on a free port."""

    def __init__(self, database_url: str, workdir: Path, *, workers: int = 1, port: int | None = None) -> None:
        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        self.port = port
        self.workers = workers
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [EVENTGATE, "serve", "--port", str(self.port), "--database-url", database_url,
             "--log-level", "warning", "--workers", str(workers)],
            cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"eventgate serve exited with {self.process.returncode}"
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "eventgate serve did not become ready"
            time.sleep(0.05)

    def workers_running(self) -> list[int]:
        """The worker pids once all of them are up (with --workers 1 the process itself serves)."""
        if self.workers == 1:
            return [self.process.pid]
        return wait_for_workers(self.process.pid, self.workers)

    def kill_9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


async def _drive_cycles(base_url: str, channel_id: str, acknowledged: Acknowledged, stop: threading.Event,
                        worker: str) -> None:
    """create → update → close cycles with our own event ids and op_ids, until the server goes away
    (or, for the connections a killed worker held, until that worker goes away)."""
    path = f"/v1/channel/{channel_id}/event"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        cycle = 0
        while not stop.is_set():
            cycle += 1
            event_id = f"{worker}-c{cycle}"
            for kind, body in (
                ("create", {"event_type": "door_open", "event_id": event_id, "attrs": {"cycle": cycle}}),
                ("update", {"event_id": event_id, "attrs": {"still_open": True}}),
                ("close", {"event_id": event_id}),
            ):
                op_id = f"{event_id}-{kind}"
                try:
                    reply = await client.post(f"{path}/{kind}", json={"password": PASSWORD, "op_id": op_id, **body})
                except httpx.TransportError:
                    return  # the server was killed: this request was never acknowledged
                if reply.status_code != 200:
                    raise AssertionError(f"{kind} of {event_id}: {reply.status_code} {reply.text}")
                acknowledged.add(event_id, kind, op_id)


def _run_load(base_url: str, channel_id: str, acknowledged: Acknowledged, stop: threading.Event,
              errors: list[BaseException], phase: str = "w") -> None:
    async def main() -> None:
        await asyncio.gather(*(_drive_cycles(base_url, channel_id, acknowledged, stop, f"{phase}{worker}")
                               for worker in range(CONCURRENCY)))

    try:
        asyncio.run(main())
    except BaseException as error:  # noqa: BLE001 — reported by the test thread
        errors.append(error)


def _stored_operations(database, workspace_id: str) -> list[tuple[int, str, str, str]]:  # type: ignore[no-untyped-def]
    with database.reader.connect() as connection:
        return [tuple(row) for row in connection.execute(
            sa.select(operations.c.seq, operations.c.event_id, operations.c.kind, operations.c.op_id)
            .where(operations.c.workspace_id == workspace_id).order_by(operations.c.seq)
        )]


def _last_seq(database, workspace_id: str) -> int:  # type: ignore[no-untyped-def]
    with database.reader.connect() as connection:
        return connection.execute(
            sa.select(sequences.c.last_seq).where(sequences.c.workspace_id == workspace_id)
        ).scalar_one()


@pytest.fixture
def setup(database_url: str):  # type: ignore[no-untyped-def]
    """A fresh workspace (so that its seq starts at 1), a channel in it and a read key."""
    database = open_database(database_url)
    migrate(database)
    with database.writer.begin() as connection:
        workspace_id = create_workspace(connection, f"durability-{secrets.token_hex(4)}").id
        channel_id = create_channel(connection, workspace_id, "durability", hash_password(PASSWORD)).id
        key, _ = create_key(connection, workspace_id, "durability", ("events:read",))
    yield database, workspace_id, channel_id, key
    database.dispose()


def _wait_for(acknowledged: Acknowledged, count: int, load: threading.Thread, errors: list[BaseException]) -> None:
    deadline = time.monotonic() + 60
    while acknowledged.count() < count and load.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert load.is_alive() and not errors, f"the load stopped early: {errors}"
    assert acknowledged.count() >= count, f"only {acknowledged.count()} of {count} acknowledged in 60 s"


@pytest.mark.parametrize("victim,workers", [("process", 1), ("supervisor", 2), ("worker", 2)])
def test_acknowledged_operations_survive_kill_9_and_seq_stays_dense(database_url, setup, tmp_path, victim, workers):
    database, workspace_id, channel_id, key = setup
    server = Server(database_url, tmp_path, workers=workers)
    acknowledged, stop, errors = Acknowledged(), threading.Event(), []
    pids = server.workers_running()
    load = threading.Thread(target=_run_load, args=(server.base_url, channel_id, acknowledged, stop, errors))
    restart_port = None
    try:
        load.start()
        _wait_for(acknowledged, ACKNOWLEDGED_BEFORE_KILL, load, errors)
        # Mid-load: requests are in flight and batches are being committed.
        if victim == "worker":
            os.kill(pids[0], signal.SIGKILL)
            # The other worker goes on serving, and the supervisor starts a replacement.
            more = threading.Thread(target=_run_load, args=(server.base_url, channel_id, acknowledged, stop,
                                                            errors, "after"))
            more.start()
            _wait_for(acknowledged, acknowledged.count() + ACKNOWLEDGED_AFTER_WORKER_KILL, more, errors)
            replacements = wait_for_workers(server.process.pid, workers, other_than={pids[0]})
            assert pids[1] in replacements
            stop.set()
            more.join(60)
            server.stop()
        else:
            server.kill_9()
            if victim == "supervisor":
                # Its workers notice, finish what they hold and exit, so the port is free again.
                wait_until_dead(pids, timeout=60)
                restart_port = server.port
    finally:
        stop.set()
        load.join(60)
        if server.process.poll() is None:
            server.stop()
    assert not errors, errors
    acked = {op_id for ops in acknowledged.ops.values() for _, op_id in ops}
    assert len(acked) >= ACKNOWLEDGED_BEFORE_KILL

    restarted = Server(database_url, tmp_path, workers=workers, port=restart_port)
    try:
        # 1. Every acknowledged operation is stored; seq is exactly 1..n in the workspace.
        stored = _stored_operations(database, workspace_id)
        stored_op_ids = {op_id for _, _, _, op_id in stored}
        missing = acked - stored_op_ids
        assert not missing, f"{len(missing)} acknowledged operations lost, e.g. {sorted(missing)[:5]}"
        assert [seq for seq, *_ in stored] == list(range(1, len(stored) + 1))
        assert _last_seq(database, workspace_id) == len(stored)

        # 2. Each event's timeline (through the restarted server) holds its acknowledged ops, in order.
        with httpx.Client(base_url=restarted.base_url, headers={"X-Api-Key": key}, timeout=30) as client:
            for event_id, ops in acknowledged.ops.items():
                reply = client.get(f"/events/{event_id}/timeline")
                assert reply.status_code == 200, reply.text
                timeline = reply.json()["data"]
                seqs = [entry["seq"] for entry in timeline]
                assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
                kinds_by_op = {entry["op_id"]: entry["kind"] for entry in timeline}
                assert [(kinds_by_op.get(op_id), op_id) for _, op_id in ops] == ops

            # 3. After the restart, new operations continue the sequence without a gap or a reuse.
            path = f"/v1/channel/{channel_id}/event"
            for kind, body in (("create", {"event_type": "door_open", "event_id": "after-restart"}),
                               ("close", {"event_id": "after-restart"})):
                reply = client.post(f"{path}/{kind}", json={"password": PASSWORD, **body})
                assert reply.status_code == 200, reply.text
        after = _stored_operations(database, workspace_id)
        assert [seq for seq, *_ in after] == list(range(1, len(stored) + 3))
        assert [(event_id, kind) for _, event_id, kind, _ in after[-2:]] == [
            ("after-restart", "create"), ("after-restart", "close")]
    finally:
        restarted.stop()
