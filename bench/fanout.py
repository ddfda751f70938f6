"""Fan-out benchmark: one server process, N subscribers, producers at a fixed rate.

For each N (1,000 and 10,000 by default) and each transport (eventgate's own WebSocket, and
ntfy's `/{topic}/json` stream that the ntfy apps and libraries hold open) it starts
`eventgate serve` on a fresh SQLite database, connects N subscribers (spread over several
client processes), then posts events at a fixed rate for --duration seconds, and measures in
the same run:

  latency     producer's request sent -> frame received, p50 / p99 / max, over every frame
  throughput  frames delivered per second (and delivered / expected)
  memory      server RSS with N connected minus RSS idle, divided by N
  CPU         server, each client process and the producer, in % of one core

Each event carries the wall-clock time its request was sent (in its message text, which both
transports carry); every subscriber reads it out of every frame or line. The subscribers are
a minimal WebSocket client (an asyncio Protocol on uvloop that parses frames and answers
pings, nothing else) or a minimal HTTP client reading the ntfy stream's lines, split over --client-processes
processes: their CPU column shows whether the load generator, rather than the server, is
what limits the numbers (a client process near 100 % of a core would be).

    .venv/bin/python bench/fanout.py                          # N = 1000 and 10000, 10 s each
    .venv/bin/python bench/fanout.py --subscribers 10000 --duration 20 --rate 3
    .venv/bin/python bench/fanout.py --subscribers 10000 --transports ws ntfy

Targets (2 cores): 10,000 subscribers held by one process at <= 30 KB each;
>= 20,000 frames/s delivered with p99 < 250 ms; the ntfy stream within 20 % of the WebSocket.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
PASSWORD = "bench-password-1234"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STAMP = b"bench_sent_at="  # in each event's message: "bench_sent_at=<unix seconds>;"

TARGET_KB_PER_CONNECTION = 30.0
TARGET_FRAMES_PER_SECOND = 20_000
TARGET_P99_MS = 250.0


# -- process accounting ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def raise_open_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- a minimal WebSocket subscriber -------------------------------------------------------------


def took_head(buffer: bytearray, expected: bytes, ready: asyncio.Future) -> bool:
    """Take the response head off the buffer once it is whole; an unexpected status fails `ready`."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return False
    if not buffer.startswith(expected):
        if not ready.done():
            ready.set_exception(RuntimeError(bytes(buffer[:200]).decode(errors="replace")))
        return False
    del buffer[:end + 4]
    return True


class Subscriber(asyncio.Protocol):
    """Upgrade, then parse server frames: count events, read their send time, answer pings."""

    def __init__(self, request: bytes, stats: "ClientStats", ready: asyncio.Future) -> None:
        self.request = request
        self.stats = stats
        self.ready = ready
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            self.upgraded = took_head(buffer, b"HTTP/1.1 101", self.ready)
            if not self.upgraded:
                return
            if not self.ready.done():
                self.ready.set_result(None)
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = int.from_bytes(buffer[2:4], "big")
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = int.from_bytes(buffer[2:10], "big")
                offset = 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset:offset + length])
            del buffer[:offset + length]
            if opcode == 1:
                self.stats.text_frame(payload)
            elif opcode == 9:  # ping: answer, or the server closes us
                self._send(0xA, payload)
            elif opcode == 8:
                self.stats.closed += 1

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = secrets.token_bytes(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        self.stats.lost += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("lost before the upgrade"))


class NtfySubscriber(asyncio.Protocol):
    """GET /{topic}/json, then read its lines (one JSON message each; chunked framing lines and
    keepalives carry no stamp and are skipped)."""

    def __init__(self, request: bytes, stats: "ClientStats", ready: asyncio.Future) -> None:
        self.request = request
        self.stats = stats
        self.ready = ready
        self.buffer = bytearray()
        self.started = False

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.started:
            self.started = took_head(buffer, b"HTTP/1.1 200", self.ready)
            if not self.started:
                return
        if not self.ready.done() and b'"event":"open"' in buffer:
            self.ready.set_result(None)
        end = buffer.rfind(b"\n")
        if end < 0:
            return
        for line in bytes(buffer[:end]).split(b"\n"):
            self.stats.text_frame(line)
        del buffer[:end + 1]

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        self.stats.lost += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("lost before the stream opened"))


def subscribe_request(transport: str, port: int, key: str, channel_id: str) -> bytes:
    if transport == "ntfy":
        return (f"GET /{channel_id}/json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {key}\r\n\r\n").encode()
    return (f"GET /api/v1/ws/subscribe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(secrets.token_bytes(16)).decode()}\r\n"
            f"Authorization: Bearer {key}\r\n\r\n").encode()


class ClientStats:
    def __init__(self) -> None:
        self.events = 0
        self.latencies: list[float] = []
        self.first_at = 0.0
        self.last_at = 0.0
        self.closed = 0
        self.lost = 0

    def text_frame(self, payload: bytes) -> None:
        index = payload.find(STAMP)
        if index < 0:
            return  # welcome, heartbeat
        now = time.time()
        start = index + len(STAMP)
        end = payload.index(b";", start)
        self.latencies.append(now - float(payload[start:end]))
        self.events += 1
        if not self.first_at:
            self.first_at = now
        self.last_at = now


def client_process(transport: str, port: int, key: str, channel_id: str, count: int,  # type: ignore[no-untyped-def]
                   pipe) -> None:
    import uvloop

    raise_open_file_limit()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stats = ClientStats()
        transports = []
        for start in range(0, count, 100):  # in batches, so the listen backlog never overflows
            futures = []
            for _ in range(start, min(count, start + 100)):
                ready: asyncio.Future = loop.create_future()
                request = subscribe_request(transport, port, key, channel_id)
                protocol = NtfySubscriber if transport == "ntfy" else Subscriber
                connection, _ = await loop.create_connection(
                    lambda r=request, f=ready, p=protocol: p(r, stats, f), "127.0.0.1", port)
                transports.append(connection)
                futures.append(ready)
            await asyncio.gather(*futures)
        pipe.send(("connected", count))
        await loop.run_in_executor(None, pipe.recv)  # "collect"
        pipe.send(("stats", stats.events, stats.latencies, stats.first_at, stats.last_at, stats.closed,
                   stats.lost, cpu_seconds(os.getpid())))
        for connection in transports:
            connection.close()

    uvloop.run(run())


# -- the producer ---------------------------------------------------------------------------------


def producer_process(port: int, channel_id: str, rate: float, duration: float, pipe) -> None:  # type: ignore[no-untyped-def]
    import httpx
    import uvloop

    async def run() -> None:
        sent = 0
        failed = 0
        replies: list[float] = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     limits=httpx.Limits(max_connections=64)) as client:
            async def post(index: int) -> None:
                nonlocal failed
                body = {"channel_id": channel_id, "password": PASSWORD, "title": f"bench {index}",
                        "status": "ongoing", "message": f"bench_sent_at={time.time()};", "severity": "high",
                        "event_time": int(time.time()), "tags": ["bench"]}
                began = time.monotonic()
                reply = await client.post("/event/create", json=body)
                replies.append(time.monotonic() - began)
                if reply.status_code != 200:
                    failed += 1

            tasks = []
            started = time.monotonic()
            total = int(rate * duration)
            for index in range(total):
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(post(index)))  # open loop: never wait for replies
                sent += 1
            await asyncio.gather(*tasks)
        pipe.send(("produced", sent, failed, cpu_seconds(os.getpid()), replies))

    uvloop.run(run())


# -- one phase -------------------------------------------------------------------------------------


def prepare_database(url: str) -> tuple[str, str]:
    from eventgate.auth.passwords import hash_password
    from eventgate.store.channels import create_channel
    from eventgate.store.database import migrate, open_database
    from eventgate.store.keys import create_key

    database = open_database(url)
    migrate(database)
    with database.writer.begin() as connection:
        channel = create_channel(connection, "default", "bench", hash_password(PASSWORD)).id
        key, _ = create_key(connection, "default", "bench", ("subscribe",))
    database.dispose()
    return channel, key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("eventgate serve exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("eventgate serve did not become ready")


def warm_up(port: int, channel_id: str) -> None:
    """One write first: the channel password is verified (argon2, slow on purpose) once and then
    cached; without this the first second of producers would all pay for it at once."""
    import httpx

    reply = httpx.post(f"http://127.0.0.1:{port}/event/create", timeout=60, json={
        "channel_id": channel_id, "password": PASSWORD, "title": "warm-up", "status": "ongoing",
        "message": "warm-up", "severity": "low", "event_time": int(time.time())})
    reply.raise_for_status()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_phase(transport: str, subscribers: int, rate: float, duration: float, client_processes: int,
              workdir: Path) -> dict:
    database_url = f"sqlite:///{workdir}/fanout-{transport}-{subscribers}.db"
    channel, key = prepare_database(database_url)
    port = free_port()
    log = open(workdir / f"serve-{transport}-{subscribers}.log", "wb")
    server = subprocess.Popen([EVENTGATE, "serve", "--port", str(port), "--database-url", database_url, "--workers", "1",
                               "--log-level", "warning"], stdout=log, stderr=log)
    result: dict = {"transport": transport, "subscribers": subscribers, "rate": rate, "duration": duration}
    clients: list[tuple[multiprocessing.Process, object]] = []
    try:
        wait_ready(port, server)
        warm_up(port, channel)
        time.sleep(1.0)
        result["rss_idle"] = rss_bytes(server.pid)

        connect_started = time.monotonic()
        share = [subscribers // client_processes + (1 if i < subscribers % client_processes else 0)
                 for i in range(client_processes)]
        for count in share:
            parent, child = multiprocessing.Pipe()
            process = multiprocessing.Process(target=client_process, args=(transport, port, key, channel, count, child),
                                              daemon=True)
            process.start()
            clients.append((process, parent))
        for _, pipe in clients:
            message = pipe.recv()
            assert message[0] == "connected"
        result["connect_seconds"] = time.monotonic() - connect_started
        time.sleep(1.0)
        result["rss_connected"] = rss_bytes(server.pid)

        server_cpu = cpu_seconds(server.pid)
        client_cpu = [cpu_seconds(process.pid) for process, _ in clients]
        parent, child = multiprocessing.Pipe()
        producer = multiprocessing.Process(target=producer_process, args=(port, channel, rate, duration, child),
                                           daemon=True)
        started = time.time()
        producer.start()
        _, sent, failed, producer_cpu, replies = parent.recv()
        result["reply_p50"], result["reply_p99"] = percentile(replies, 0.5), percentile(replies, 0.99)
        # Let the last frames arrive (bounded: a frame that has not arrived by then counts as lost).
        time.sleep(min(10.0, 2.0 + duration / 4))
        wall = time.time() - started
        result["server_cpu"] = (cpu_seconds(server.pid) - server_cpu) / wall
        result["rss_after"] = rss_bytes(server.pid)
        events = 0
        latencies: list[float] = []
        first_at, last_at = float("inf"), 0.0
        client_share = []
        closed = lost = 0
        for (process, pipe), before in zip(clients, client_cpu):
            pipe.send("collect")
            _, count, lat, first, last, shut, gone, after = pipe.recv()
            events += count
            latencies.extend(lat)
            if count:
                first_at, last_at = min(first_at, first), max(last_at, last)
            client_share.append((after - before) / wall)
            closed += shut
            lost += gone
        result.update(sent=sent, failed=failed, producer_cpu=producer_cpu / wall, frames=events,
                      expected=sent * subscribers, client_cpu=client_share, closed=closed, lost=lost,
                      p50=percentile(latencies, 0.50), p99=percentile(latencies, 0.99),
                      max=max(latencies) if latencies else float("nan"),
                      mean=statistics.fmean(latencies) if latencies else float("nan"),
                      delivery_seconds=max(1e-9, last_at - started) if events else float("nan"))
        # Frames per second while the stream ran: from the first request to the last frame.
        result["frames_per_second"] = events / result["delivery_seconds"] if events else 0.0
    finally:
        for process, _ in clients:
            process.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    return result


def report(result: dict) -> None:
    n = result["subscribers"]
    per_connection = (result["rss_connected"] - result["rss_idle"]) / n / 1024
    what = TRANSPORTS[result["transport"]]
    print(f"\n== {n:,} {what} subscribers, {result['rate']:g} events/s for {result['duration']:g} s ==")
    print(f"  connect      {n:,} in {result['connect_seconds']:.1f} s")
    print(f"  memory       RSS idle {result['rss_idle'] / 2**20:.1f} MB, with {n:,} connected "
          f"{result['rss_connected'] / 2**20:.1f} MB -> {per_connection:.1f} KB per connection "
          f"(target <= {TARGET_KB_PER_CONNECTION:g}); after the run {result['rss_after'] / 2**20:.1f} MB")
    print(f"  delivered    {result['frames']:,} of {result['expected']:,} frames "
          f"({100 * result['frames'] / max(1, result['expected']):.2f} %), {result['sent']} events "
          f"({result['failed']} failed), closed {result['closed']}, lost {result['lost']}")
    print(f"  throughput   {result['frames_per_second']:,.0f} frames/s "
          f"(target >= {TARGET_FRAMES_PER_SECOND:,})")
    print(f"  latency      p50 {1000 * result['p50']:.1f} ms, p99 {1000 * result['p99']:.1f} ms, "
          f"max {1000 * result['max']:.1f} ms (target p99 < {TARGET_P99_MS:g} ms)")
    print(f"  producer     HTTP reply p50 {1000 * result['reply_p50']:.1f} ms, p99 {1000 * result['reply_p99']:.1f} ms "
          f"(the acknowledged write, fsync included)")
    clients = ", ".join(f"{100 * c:.0f} %" for c in result["client_cpu"])
    print(f"  CPU          server {100 * result['server_cpu']:.0f} % of a core; client processes {clients}; "
          f"producer {100 * result['producer_cpu']:.0f} %")
    busiest = max(result["client_cpu"] + [result["producer_cpu"]])
    verdict = "not the bottleneck" if busiest < 0.7 else "POSSIBLY THE BOTTLENECK (add --client-processes)"
    print(f"  load gen     busiest generator process at {100 * busiest:.0f} % of a core: {verdict}")


TRANSPORTS = {"ws": "WebSocket (/api/v1/ws/subscribe)", "ntfy": "ntfy stream (/{topic}/json)"}


def compare(results: list[dict]) -> None:
    """The ntfy stream beside the WebSocket, for each N both ran."""
    by_n: dict[int, dict[str, dict]] = {}
    for result in results:
        by_n.setdefault(result["subscribers"], {})[result["transport"]] = result
    for n, pair in by_n.items():
        if "ws" not in pair or "ntfy" not in pair:
            continue
        ws, ntfy = pair["ws"], pair["ntfy"]
        kb = {name: (r["rss_connected"] - r["rss_idle"]) / n / 1024 for name, r in pair.items()}
        print(f"\n== {n:,} subscribers: ntfy stream vs WebSocket (target: within 20 %) ==")
        print(f"  throughput   {ntfy['frames_per_second']:,.0f} vs {ws['frames_per_second']:,.0f} frames/s "
              f"({100 * ntfy['frames_per_second'] / max(1e-9, ws['frames_per_second']):.0f} %)")
        print(f"  p99          {1000 * ntfy['p99']:.1f} vs {1000 * ws['p99']:.1f} ms")
        print(f"  memory       {kb['ntfy']:.1f} vs {kb['ws']:.1f} KB per subscriber")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rate", type=float, default=None,
                        help="events per second (default: 25,000 frames/s worth for each N)")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--transports", nargs="+", choices=sorted(TRANSPORTS), default=["ws", "ntfy"])
    args = parser.parse_args()

    limit = raise_open_file_limit()
    needed = max(args.subscribers) + 512
    if limit < needed:
        sys.exit(f"the open-file limit is {limit}; {needed} are needed (raise the hard limit)")
    print(f"open-file limit {limit}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    workdir = Path(tempfile.mkdtemp(prefix="eventgate-fanout-"))
    try:
        results = []
        for subscribers in args.subscribers:
            rate = args.rate or 25_000 / subscribers
            for transport in args.transports:
                results.append(run_phase(transport, subscribers, rate, args.duration, args.client_processes,
                                         workdir))
                report(results[-1])
        compare(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
