"""Delivery benchmark: webhooks delivered per second, commit-to-receipt latency, and what ten
webhook destinations cost ingest, in one run.

Starts `eventgate serve --allow-private-destinations` as a subprocess on a fresh SQLite database
(or a scratch PostgreSQL database beside --database-url), and a receiver in a subprocess of its
own: a plain asyncio HTTP/1.1 server on uvloop that answers every POST with 200 at once and
notes the time it got it (wall clock) with the body's `data.seq` and `data.op.received_at`
(when the server received the operation, committed a few ms later: an upper bound of the lag). Then, with bench/ingest.py's load generator
(durable seed-001 creates over keep-alive connections):

  phase 1   creates for --seconds with no destination
  phase 2   ten webhook destinations to the receiver (all operations, no filter), then creates
            for --seconds again; then the backlog is left to drain (--drain seconds at most)
  phase 3   creates at a steady --paced-rate per second (default 200: 2,000 deliveries/s to the
            ten destinations) for --seconds, then their deliveries drain: the latency from
            commit to receipt when delivery keeps up, which phase 2 (ingest as fast as the
            machine goes, ten deliveries per create) cannot show on a small machine
  phase 4   the destinations removed, creates for --seconds again: the control. Phase 2's rate
            is compared with the mean of phases 1 and 4, which bracket it, so that the database
            growing (and the machine's drift) is not counted as delivery's cost

and prints the ingest rate of both phases, deliveries/s (all deliveries over the time from the
start of phase 2 to the last receipt, and during the ingest window alone), p50/p99/max from
commit (`received_at`) to receipt, and how long the backlog took to drain after ingest stopped.
Every operation of phase 2 must reach each destination at least once (duplicates are counted).

    .venv/bin/python bench/delivery.py                    # 10 s per phase, concurrency 64
    .venv/bin/python bench/delivery.py --seconds 5
    .venv/bin/python bench/delivery.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import (  # noqa: E402
    EVENTGATE,
    PASSWORD,
    ROOT,
    ScratchPostgres,
    Work,
    _free_port,
    _percentile,
    _stop,
    _wait_for_processes,
    _wait_ready,
    cpu_by_thread,
    create_channel,
    create_request,
    run_generators,
)

sys.path.insert(0, str(ROOT / "src"))

DESTINATIONS = 10
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# -- the receiver (a subprocess: `delivery.py --receiver PORT`) ---------------------------------


class Op(msgspec.Struct):
    received_at: float  # Unix seconds, ms precision: when the server received (and committed) it


class Data(msgspec.Struct):
    seq: int
    op: Op


class Body(msgspec.Struct):
    """What the receiver reads of a webhook body (the rest is skipped)."""

    data: Data


def run_receiver(port: int) -> None:
    import uvloop

    decode = msgspec.json.Decoder(Body).decode
    records: list[tuple[str, int, int, float]] = []  # (webhook-id, seq, received_at ms, receipt ms)
    ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"

    class Receiver(asyncio.Protocol):
        def __init__(self) -> None:
            self.buffer = bytearray()

        def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            buffer = self.buffer
            buffer.extend(data)
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buffer[:end]).lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) >= 0 else end]) \
                    if at >= 0 else 0
                total = end + 4 + length
                if len(buffer) < total:
                    return
                body = bytes(buffer[end + 4:total])
                del buffer[:total]
                if head.startswith(b"get /dump"):
                    payload = json.dumps(records).encode()
                    self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                                         + str(len(payload)).encode() + b"\r\n\r\n" + payload)
                    continue
                if head.startswith(b"get /count"):
                    payload = str(len(records)).encode()
                    self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(payload)).encode()
                                         + b"\r\n\r\n" + payload)
                    continue
                receipt = time.time() * 1000
                at = head.find(b"webhook-id:")
                message_id = head[at + 11:head.find(b"\r\n", at)].strip().decode() if at >= 0 else ""
                data = decode(body).data
                records.append((message_id, data.seq, data.op.received_at * 1000, receipt))
                self.transport.write(ok)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    try:
        uvloop.run(main())
    except KeyboardInterrupt:  # the bench stops it with SIGINT
        pass


def _get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += sock.recv(1 << 20)
        return body


def _wait_receiver(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise SystemExit("the receiver exited")
        try:
            _get(port, "/count")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the receiver did not start") from None
            time.sleep(0.05)


# -- the run ------------------------------------------------------------------------------------


def add_destinations(database_url: str, receiver_port: int) -> list[str]:
    from eventgate.domain.destinations import parse_filter
    from eventgate.store.database import open_database
    from eventgate.store.destinations import create_destination

    database = open_database(database_url)
    try:
        with database.writer.begin() as connection:
            return [create_destination(connection, "default", name=f"bench-{index}", kind="webhook",
                                       url=f"http://127.0.0.1:{receiver_port}/hooks/{index}",
                                       filter=parse_filter(None), secret=SECRET).id
                    for index in range(DESTINATIONS)]
    finally:
        database.dispose()


def remove_destinations(database_url: str, ids: list[str]) -> None:
    from eventgate.store.database import open_database
    from eventgate.store.destinations import delete_destination

    database = open_database(database_url)
    try:
        with database.writer.begin() as connection:
            for destination_id in ids:
                delete_destination(connection, destination_id)
    finally:
        database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receiver", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of ingest per phase (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before phase 1 (default 2)")
    parser.add_argument("--drain", type=float, default=60.0,
                        help="seconds to wait for the backlog after phase 2 at most (default 60)")
    parser.add_argument("--concurrency", type=int, default=64, help="open ingest connections (default 64)")
    parser.add_argument("--paced-rate", type=float, default=200.0,
                        help="creates per second in phase 3 (default 200; 0 skips it)")
    parser.add_argument("--max-ops", type=int, default=1_000_000, help="creates per phase at most")
    parser.add_argument("--workers", type=int, default=None, help="pass --workers N to `eventgate serve`")
    parser.add_argument("--database-url", default=None,
                        help="run on a scratch database beside this PostgreSQL one instead of a fresh SQLite file")
    args = parser.parse_args()
    if args.receiver is not None:
        run_receiver(args.receiver)
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="eventgate-bench-delivery-"))
    database_url = args.database_url or f"sqlite:///{workdir}/eventgate.db"
    database = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    scratch = None
    if database != "sqlite":
        scratch = ScratchPostgres(database_url)
        database_url = scratch.url
    port, receiver_port = _free_port(), _free_port()
    server = receiver = None
    server_log = open(workdir / "serve.log", "wb")  # noqa: SIM115
    try:
        channel_id = create_channel(database_url)
        receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(receiver_port)], cwd=workdir)
        _wait_receiver(receiver_port, receiver)
        server = subprocess.Popen(
            [EVENTGATE, "serve", "--port", str(port), "--database-url", database_url, "--log-level", "warning",
             "--allow-private-destinations", *(["--workers", str(args.workers)] if args.workers else [])],
            cwd=workdir, stdout=server_log, stderr=subprocess.STDOUT,
        )
        _wait_ready(port, server, "eventgate serve")
        processes = len(_wait_for_processes(server.pid, args.workers or os.cpu_count() or 1))
        work = Work("creates", port, repeat=create_request(channel_id))
        if args.warmup > 0:
            run_generators(work, args.concurrency, args.warmup, args.max_ops, 1)

        without = run_generators(work, args.concurrency, args.seconds, args.max_ops, 1)
        destination_ids = add_destinations(database_url, receiver_port)
        time.sleep(2.0)  # the dispatchers' lease scans (every second) take the new destinations
        cpu_before, wall_before = sum(cpu_by_thread(server.pid).values()), time.monotonic()
        phase2_started = time.time() * 1000
        with_destinations = run_generators(work, args.concurrency, args.seconds, args.max_ops, 1)
        ingest_ended = time.time() * 1000
        expected = DESTINATIONS * with_destinations.ok
        deadline = time.monotonic() + args.drain
        while int(_get(receiver_port, "/count")) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        records = json.loads(_get(receiver_port, "/dump"))
        server_cpu = 100 * (sum(cpu_by_thread(server.pid).values()) - cpu_before) / (time.monotonic() - wall_before)
        paced_records, paced_ok, paced_window = [], 0, (0.0, 0.0)
        if args.paced_rate > 0 and len(records) >= expected:
            paced_started = time.time() * 1000
            paced_ok = asyncio.run(paced_creates(port, channel_id, args.paced_rate, args.seconds))
            paced_window = (paced_started, time.time() * 1000)
            deadline = time.monotonic() + args.drain
            while int(_get(receiver_port, "/count")) < expected + DESTINATIONS * paced_ok \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
            paced_records = [r for r in json.loads(_get(receiver_port, "/dump")) if r[2] >= paced_started]
        # Phase 4, the control: the destinations removed, ingest alone again on the database as it
        # has grown by now. Phase 2 is compared with phases 1 and 4 (before and after it).
        remove_destinations(database_url, destination_ids)
        time.sleep(2.0)  # the lease scans stop the workers
        without_after = run_generators(work, args.concurrency, args.seconds, args.max_ops, 1)
        if len(records) < expected:
            server_log.flush()
            print("the server's log ends with:\n" + (workdir / "serve.log").read_text()[-3000:], file=sys.stderr)
    finally:
        server_log.close()
        _stop(server)
        _stop(receiver)
        shutil.rmtree(workdir, ignore_errors=True)
        if scratch is not None:
            scratch.drop()

    distinct = {message_id for message_id, _, _, _ in records}
    latencies = sorted(receipt - committed for _, _, committed, receipt in records)
    last = max((receipt for *_, receipt in records), default=phase2_started)
    during = sum(1 for *_, receipt in records if receipt <= ingest_ended)
    rate_before = without.ok / (without.ended - without.started)
    rate_after = without_after.ok / (without_after.ended - without_after.started)
    rate_without = (rate_before + rate_after) / 2
    rate_with = with_destinations.ok / (with_destinations.ended - with_destinations.started)
    load = os.getloadavg()
    print(f"eventgate delivery: {database}, {processes} server process(es), {DESTINATIONS} webhook destinations "
          f"(no filter) to one local receiver, concurrency {args.concurrency}, {args.seconds:g} s per phase, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"ingest without destinations  {rate_before:>8.0f} creates/s before (phase 1), {rate_after:.0f} after "
          f"(phase 4, destinations removed): {rate_without:.0f} on average")
    print(f"ingest with {DESTINATIONS} destinations    {rate_with:>8.0f} creates/s ({with_destinations.ok} ok, "
          f"{with_destinations.failed} errors) = {rate_with / rate_without:.0%} of without")
    print(f"deliveries                   {len(records)} received, {len(distinct)} distinct of {expected} owed"
          f" ({len(records) - len(distinct)} duplicates, {max(0, expected - len(distinct))} missing)")
    print(f"deliveries/s                 {1000 * len(records) / max(1.0, last - phase2_started):>8.0f} overall "
          f"(phase 2 start to last receipt), {1000 * during / max(1.0, ingest_ended - phase2_started):.0f} "
          f"while ingesting")
    print(f"commit → receipt             p50 {_percentile(latencies, 0.5):.0f} ms, "
          f"p99 {_percentile(latencies, 0.99):.0f} ms, max {latencies[-1] if latencies else float('nan'):.0f} ms")
    print(f"server CPU                   {server_cpu:.0f}% of one core from phase 2 start to the end of the drain")
    if len(distinct) >= expected:
        print(f"backlog drained              {max(0.0, last - ingest_ended) / 1000:.1f} s after ingest stopped")
    else:
        print(f"backlog NOT drained          {expected - len(distinct)} deliveries still owed {args.drain:g} s after "
              f"ingest stopped (--drain)")
    if paced_ok:
        paced_latencies = sorted(receipt - committed for _, _, committed, receipt in paced_records)
        seconds = (paced_window[1] - paced_window[0]) / 1000
        print(f"phase 3, paced               {paced_ok / seconds:>8.0f} creates/s for {seconds:.0f} s → "
              f"{len(paced_records)} deliveries of {DESTINATIONS * paced_ok} owed, "
              f"{len(paced_records) / seconds:.0f}/s; commit → receipt p50 "
              f"{_percentile(paced_latencies, 0.5):.0f} ms, p99 {_percentile(paced_latencies, 0.99):.0f} ms, "
              f"max {paced_latencies[-1] if paced_latencies else float('nan'):.0f} ms")
    return 0 if len(distinct) >= expected else 1


async def paced_creates(port: int, channel_id: str, rate: float, seconds: float) -> int:
    """Creates at a steady rate (each sent on its own schedule, not waiting for the previous)."""
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as client:
        async def one() -> bool:
            now = int(time.time())
            reply = await client.post("/event/create", json={
                "channel_id": channel_id, "password": PASSWORD, "title": "Paced", "status": "ongoing",
                "message": "steady load", "severity": "normal", "event_time": now})
            return reply.status_code == 200

        tasks, started, count = [], time.monotonic(), int(rate * seconds)
        for index in range(count):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        return sum(await asyncio.gather(*tasks))


if __name__ == "__main__":
    sys.exit(main())
