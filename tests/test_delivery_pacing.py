"""Ingest first: delivery's steps wait for their turn while ingest is saturated, and the
request middleware's count of write requests in flight is what says so."""

from __future__ import annotations

import asyncio
import socket
import time

from eventgate.delivery.pacing import IngestFirst
from eventgate.ingest_load import IngestLoad


class FakeTime:
    def __init__(self, start: float) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_turns_are_immediate_while_ingest_is_not_busy():
    fake = FakeTime(10.05)
    pacing = IngestFirst(lambda: False, steps=1, period_s=0.1, clock=fake.clock, sleep=fake.sleep)
    for _ in range(100):
        asyncio.run(pacing.turn())
    assert fake.slept == []


def test_while_ingest_is_busy_each_period_grants_its_steps_and_the_rest_wait():
    fake = FakeTime(100.0)
    pacing = IngestFirst(lambda: True, steps=2, period_s=1.0, clock=fake.clock, sleep=fake.sleep)

    async def steps(count: int, cost: float) -> list[float]:
        started = []
        for _ in range(count):
            await pacing.turn()
            started.append(fake.now)
            fake.now += cost  # the step's own work
        return started

    started = asyncio.run(steps(7, 0.01))
    # two steps in each period (at its start, then right after the first), the next in the next one
    assert [round(at, 6) for at in started] == [100.0, 100.01, 101.0, 101.01, 102.0, 102.01, 103.0]
    assert [round(pause, 6) for pause in fake.slept] == [0.98, 0.98, 0.98]


def test_delivery_resumes_at_once_when_ingest_calms_down():
    fake = FakeTime(7.5)
    busy = [True]

    async def sleep(seconds: float) -> None:
        await fake.sleep(seconds)
        busy[0] = False  # ingest calmed down during the pause

    pacing = IngestFirst(lambda: busy[0], steps=1, period_s=1.0, clock=fake.clock, sleep=sleep)
    asyncio.run(pacing.turn())  # the period's one step
    assert fake.slept == []
    asyncio.run(pacing.turn())  # waits for the next period, by when ingest is no longer busy
    asyncio.run(pacing.turn())
    asyncio.run(pacing.turn())
    assert fake.slept == [0.5]


def test_busy_holds_through_the_dip_after_a_group_commit():
    load = IngestLoad(busy_writes=3, hold_s=60)
    for _ in range(3):
        load.started()
    assert load.busy()
    for _ in range(3):
        load.ended()  # the batch answered at once: none in flight for a moment
    assert load.in_flight == 0 and load.busy()
    calm = IngestLoad(busy_writes=3, hold_s=60)
    calm.started()
    calm.started()
    assert not calm.busy()  # never reached the threshold


def test_the_server_counts_write_requests_in_flight_and_is_busy_at_eight(server):
    load: IngestLoad = server.runtime.ingest_load
    assert load.in_flight == 0 and not load.busy()
    host, port = server.base_url.removeprefix("http://").split(":")
    key = server.create_key()
    held = []
    try:
        for _ in range(8):  # writes whose bodies have not arrived yet: the server is serving them
            connection = socket.create_connection((host, int(port)))
            connection.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: 100\r\n\r\n{")
            held.append(connection)
        deadline = time.monotonic() + 10
        while load.in_flight < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert load.in_flight == 8 and load.busy()
        reads = socket.create_connection((host, int(port)))  # a read is not ingest
        reads.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reads.recv(100).startswith(b"HTTP/1.1 200")
        reads.close()
        assert load.in_flight == 8
    finally:
        for connection in held:
            connection.close()
    deadline = time.monotonic() + 10
    while (load.in_flight or load.busy()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert load.in_flight == 0 and not load.busy()  # once the hold after the last busy moment is over
