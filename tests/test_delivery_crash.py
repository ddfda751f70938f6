"""Delivery survives crashes (SPEC §10): real `eventgate serve --workers 1` processes on one
database (a SQLite file, and PostgreSQL when configured), a real receiver, and `kill -9`.

  - A server killed while it delivers a burst sends, once restarted, every matching operation at
    least once; per event the first delivery of each seq comes in seq order; a resent operation
    carries the same webhook-id and body.
  - Two servers on one database: only one dispatches the destination (nothing twice while both
    live); when the one holding the lease is killed, the other takes over once the lease runs out.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import sqlalchemy as sa

from eventgate.auth.passwords import hash_password
from eventgate.domain.destinations import parse_filter
from eventgate.store.channels import create_channel
from eventgate.store.database import Database, migrate, open_database
from eventgate.store.destinations import Destination, create_destination, get_destination
from eventgate.store.schema import operations
from eventgate.store.workspaces import create_workspace
from tests.conftest import PASSWORD, _backends, fresh_database_url
from tests.live_client import EVENTGATE, ServeProcess, close, create, update
from tests.webhook_receiver import Received, Receiver

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(EVENTGATE).exists(), reason="the eventgate command is not installed")]

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LEASE_SECONDS = 10  # delivery/dispatcher.py's LEASE_SECONDS


class DeliveringServer(ServeProcess):
    """`eventgate serve --workers 1` allowed to deliver to loopback (the receiver)."""

    def command(self) -> list[str]:
        return super().command() + ["--allow-private-destinations"]


@pytest.fixture(scope="module", params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    databases = fresh_database_url(request.param, tmp_path_factory)
    url = next(databases)
    database = open_database(url)
    migrate(database)
    database.dispose()
    yield url
    databases.close()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url)
    yield opened
    opened.dispose()




@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[list[DeliveringServer]]:
    """Start servers with servers.append(start(...)); all stopped (or already killed) at the end."""
    started: list[DeliveringServer] = []
    yield started
    for server in started:
        server.kill()


def start(database_url: str, tmp_path: Path, name: str) -> DeliveringServer:
    return DeliveringServer(database_url, workers=1, log_path=tmp_path / f"{name}.log").start()


def setup_workspace(database: Database, receiver: Receiver) -> tuple[str, str, Destination]:
    """A workspace with two channels; a destination that wants the first one's operations only."""
    with database.writer.begin() as connection:
        workspace_id = create_workspace(connection, f"crash-{os.urandom(3).hex()}").id
        wanted = create_channel(connection, workspace_id, "wanted", hash_password(PASSWORD)).id
        other = create_channel(connection, workspace_id, "other", hash_password(PASSWORD)).id
        destination = create_destination(connection, workspace_id, name="receiver", kind="webhook",
                                         url=receiver.url + "/hooks", filter=parse_filter({"channel_id": [wanted]}),
                                         secret=SECRET)
    return wanted, other, destination


def produce(base_url: str, wanted: str, other: str, events: int, threads: int = 8) -> list[str]:
    """`events` create → update → close cycles on the wanted channel (3 operations each), and one
    cycle on the other channel every tenth event, from `threads` clients at once; the wanted
    event ids."""
    made: list[str] = []

    def cycles(indexes: range) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for index in indexes:
                event_id = create(client, wanted, title=f"burst {index}")
                update(client, wanted, event_id, message="still")
                close(client, wanted, event_id, status="resolved")
                made.append(event_id)
                if index % 10 == 0:
                    unwanted = create(client, other, title="not for the receiver")
                    close(client, other, unwanted, status="resolved")

    with ThreadPoolExecutor(threads) as pool:
        for done in [pool.submit(cycles, range(start, events, threads)) for start in range(threads)]:
            done.result()
    return made


def wanted_seqs(database: Database, workspace_id: str, channel_id: str) -> list[int]:
    with database.reader.connect() as connection:
        return list(connection.execute(sa.select(operations.c.seq).where(
            operations.c.workspace_id == workspace_id, operations.c.channel_id == channel_id)
            .order_by(operations.c.seq)).scalars())


def seq_of(request: Received) -> int:
    return request.json()["data"]["seq"]


def wait_for_seqs(receiver: Receiver, seqs: set[int], timeout: float) -> list[Received]:
    deadline = time.monotonic() + timeout
    while True:
        found = receiver.requests()
        missing = seqs - {seq_of(r) for r in found}
        if not missing:
            return found
        assert time.monotonic() < deadline, f"{len(missing)} operations never delivered, e.g. {sorted(missing)[:5]}"
        time.sleep(0.05)


def check_at_least_once_in_order(requests: list[Received], wanted: set[int]) -> None:
    delivered = [seq_of(r) for r in requests]
    assert set(delivered) == wanted, f"unexpected seqs {sorted(set(delivered) - wanted)[:5]}"
    first_by_event: dict[str, list[int]] = defaultdict(list)
    seen: dict[int, Received] = {}
    for request in requests:
        seq = seq_of(request)
        if seq in seen:  # a resend: the same message
            assert request.headers["webhook-id"] == seen[seq].headers["webhook-id"]
            assert request.body == seen[seq].body
            continue
        seen[seq] = request
        first_by_event[request.json()["data"]["event"]["id"]].append(seq)
    for event_id, seqs in first_by_event.items():
        assert seqs == sorted(seqs), f"event {event_id}: first deliveries in the order {seqs}"


def test_kill_9_in_the_middle_of_a_burst_loses_nothing_and_keeps_order(database_url, database, receiver, servers,
                                                                       tmp_path):
    events = 100  # 300 wanted operations
    wanted, other, destination = setup_workspace(database, receiver)
    server = start(database_url, tmp_path, "first")
    servers.append(server)
    produced = threading.Event()
    killed_at: list[int] = []

    def answer(request: Received):
        # Hold deliveries until the whole burst is committed, then answer slowly and kill the
        # server when the 100th request arrives.
        produced.wait(20)
        time.sleep(0.005)
        if not killed_at and len(receiver.requests()) >= 100:
            killed_at.append(len(receiver.requests()))
            os.kill(server.process.pid, signal.SIGKILL)
        return 200

    receiver.answer = answer
    produce(server.base_url, wanted, other, events)
    produced.set()
    seqs = set(wanted_seqs(database, destination.workspace_id, wanted))
    assert len(seqs) == 3 * events
    server.process.wait(30)
    assert killed_at and killed_at[0] < len(seqs), "the server was not killed in the middle of the burst"
    assert len({seq_of(r) for r in receiver.requests()}) < len(seqs)

    restarted_at = time.monotonic()
    restarted = start(database_url, tmp_path, "restarted")
    servers.append(restarted)
    # The dead process's lease runs out first (LEASE_SECONDS), then the restarted one takes over.
    requests = wait_for_seqs(receiver, seqs, timeout=LEASE_SECONDS + 30)
    time.sleep(1.0)  # anything sent twice by the restarted server would show now
    requests = receiver.requests()
    check_at_least_once_in_order(requests, seqs)
    after_restart = [seq_of(r) for r in requests if r.at > restarted_at]
    assert len(after_restart) == len(set(after_restart)), "the restarted server sent an operation twice"
    with database.reader.connect() as connection:
        found = get_destination(connection, destination.id)
    assert found.cursor_seq >= max(seqs) and found.enabled
    assert found.lease_owner.split(":")[-2] == str(restarted.process.pid)


def lease_holder(database: Database, destination_id: str, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while True:
        with database.reader.connect() as connection:
            found = get_destination(connection, destination_id)
        if found.lease_owner and found.lease_until and found.lease_until > time.time() * 1000:
            return int(found.lease_owner.split(":")[-2])
        assert time.monotonic() < deadline, "nobody took the destination's lease"
        time.sleep(0.1)


def test_two_servers_one_dispatches_and_the_other_takes_over_after_kill_9(database_url, database, receiver,
                                                                         servers, tmp_path):
    wanted, other, destination = setup_workspace(database, receiver)
    first = start(database_url, tmp_path, "first")
    second = start(database_url, tmp_path, "second")
    servers.extend([first, second])
    by_pid = {first.process.pid: first, second.process.pid: second}
    holder = by_pid[lease_holder(database, destination.id)]
    survivor = second if holder is first else first

    # While both live, operations written through either one are delivered exactly once.
    produce(first.base_url, wanted, other, 15)
    produce(second.base_url, wanted, other, 15)
    before = set(wanted_seqs(database, destination.workspace_id, wanted))
    wait_for_seqs(receiver, before, timeout=20)
    time.sleep(2 * 1.0)  # two scans of the other process: it would have sent something by now
    delivered = [seq_of(r) for r in receiver.requests()]
    assert sorted(delivered) == sorted(before), "an operation was delivered twice while both servers lived"
    assert lease_holder(database, destination.id) == holder.process.pid

    # Kill the holder in the middle of more deliveries; the survivor takes over.
    receiver.answer = lambda request: time.sleep(0.005) or 200
    producer = threading.Thread(target=produce, args=(survivor.base_url, wanted, other, 40))
    producer.start()
    time.sleep(0.3)
    holder.kill()
    killed = time.monotonic()
    while lease_holder(database, destination.id, timeout=LEASE_SECONDS + 10) != survivor.process.pid:
        assert time.monotonic() - killed < LEASE_SECONDS + 10, "the survivor did not take the destination over"
        time.sleep(0.1)
    taken_over_in = time.monotonic() - killed
    assert taken_over_in < 15, f"the survivor took {taken_over_in:.1f} s to take over"
    producer.join(60)
    assert not producer.is_alive()
    everything = set(wanted_seqs(database, destination.workspace_id, wanted))
    wait_for_seqs(receiver, everything, timeout=20)
    delivered_in = time.monotonic() - killed
    check_at_least_once_in_order(receiver.requests(), everything)
    assert delivered_in < 20, f"everything was delivered {delivered_in:.1f} s after the kill"
