"""Connect benchmark: how long N WebSocket subscribers take to connect, with their key cached
or not, against a baseline of plain requests, all in one run on one server process.

It starts `eventgate serve` on a fresh SQLite database and, for each N (2,000 and 10,000 by
default), measures three phases one after the other:

  healthz     N requests to /healthz, each on a new connection (no key, no database): the
              cost of a connection and a request, the floor for the others
  N keys      N subscribers, each with a key of its own: every lookup misses the key cache
              and reads the database, as every connect did before lookups were cached
  one key     N subscribers sharing one key: the first connect reads it, the rest are
              served from the cache

A subscriber counts as connected once its welcome frame arrives. Connections go in waves of
--concurrency at a time (so the listen backlog never overflows); every subscriber of a phase
stays connected until the phase ends (the N-keys phase thus also pays for the once-a-second
check of N keys in use), then all are closed before the next phase.

    .venv/bin/python bench/connect.py
    .venv/bin/python bench/connect.py --subscribers 5000 --concurrency 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from fanout import cpu_seconds, free_port, raise_open_file_limit, wait_ready  # noqa: E402

EVENTGATE = str(Path(sys.executable).with_name("eventgate"))


def prepare_database(url: str, keys: int) -> list[str]:
    """A migrated database with `keys` subscribe keys (one transaction)."""
    from eventgate.store.database import migrate, open_database
    from eventgate.store.keys import create_key

    database = open_database(url)
    migrate(database)
    with database.writer.begin() as connection:
        plain = [create_key(connection, "default", f"bench-{i}", ("subscribe",))[0] for i in range(keys)]
    database.dispose()
    return plain


class Connection(asyncio.Protocol):
    """Send one request; done when the response (and for a WebSocket, a first frame) has come."""

    def __init__(self, request: bytes, done: asyncio.Future, websocket: bool) -> None:
        self.request = request
        self.done = done
        self.websocket = websocket
        self.buffer = bytearray()

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return  # heartbeats and the like: not read any further
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        expected = b"HTTP/1.1 101" if self.websocket else b"HTTP/1.1 200"
        if not self.buffer.startswith(expected):
            self.done.set_exception(RuntimeError(bytes(self.buffer[:200]).decode(errors="replace")))
        elif not self.websocket or len(self.buffer) > end + 4:  # the welcome frame has begun
            self.done.set_result(None)

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        if not self.done.done():
            self.done.set_exception(RuntimeError(f"connection lost: {exc}"))


def websocket_request(port: int, key: str) -> bytes:
    return (f"GET /api/v1/ws/subscribe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(secrets.token_bytes(16)).decode()}\r\n"
            f"Authorization: Bearer {key}\r\n\r\n").encode()


def healthz_request(port: int) -> bytes:
    return f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()


async def connect_all(port: int, requests: list[bytes], websocket: bool, concurrency: int) -> tuple[float, list]:
    """Seconds until every request is answered; the transports (still open)."""
    loop = asyncio.get_running_loop()
    transports = []
    began = time.perf_counter()
    for start in range(0, len(requests), concurrency):
        waits = []
        for request in requests[start:start + concurrency]:
            done: asyncio.Future = loop.create_future()
            transport, _ = await loop.create_connection(
                lambda r=request, d=done: Connection(r, d, websocket), "127.0.0.1", port)
            transports.append(transport)
            waits.append(done)
        await asyncio.gather(*waits)
    return time.perf_counter() - began, transports


async def phase(port: int, server_pid: int, name: str, requests: list[bytes], websocket: bool,
                concurrency: int) -> dict:
    cpu_before = cpu_seconds(server_pid)
    seconds, transports = await connect_all(port, requests, websocket, concurrency)
    cpu = cpu_seconds(server_pid) - cpu_before
    for transport in transports:
        transport.close()
    await asyncio.sleep(2.0)  # let the server notice every close before the next phase
    return {"phase": name, "count": len(requests), "seconds": seconds, "server_cpu": cpu}


def run(subscribers: int, concurrency: int, workdir: Path) -> list[dict]:
    import uvloop

    url = f"sqlite:///{workdir}/eventgate.db"
    keys = prepare_database(url, subscribers)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTGATE_")}
    server = subprocess.Popen([EVENTGATE, "serve", "--port", str(port), "--database-url", url,
                               "--log-level", "warning", "--workers", "1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, server)

        async def main() -> list[dict]:
            return [
                await phase(port, server.pid, "healthz", [healthz_request(port)] * subscribers, False, concurrency),
                await phase(port, server.pid, "N keys (uncached)",
                            [websocket_request(port, key) for key in keys], True, concurrency),
                await phase(port, server.pid, "one key (cached)",
                            [websocket_request(port, keys[0]) for _ in keys], True, concurrency),
            ]

        return uvloop.run(main())
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def report(results: list[dict]) -> None:
    floor = results[0]["seconds"]
    print(f"{'phase':<20} {'N':>7} {'seconds':>9} {'per second':>11} {'vs healthz':>11} {'server CPU s':>13}")
    for r in results:
        print(f"{r['phase']:<20} {r['count']:>7} {r['seconds']:>9.2f} {r['count'] / r['seconds']:>11.0f} "
              f"{r['seconds'] / floor:>10.1f}x {r['server_cpu']:>13.2f}")
    uncached, cached = results[1]["seconds"], results[2]["seconds"]
    print(f"one cached key connects {uncached / cached:.2f}x as fast as N uncached keys\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--concurrency", type=int, default=100, help="Connections in flight at once.")
    args = parser.parse_args()
    limit = raise_open_file_limit()
    if limit < max(args.subscribers) + 100:  # the server, a process of its own, inherits it
        sys.exit(f"the open-file limit ({limit}) is too low for {max(args.subscribers)} subscribers")
    for count in args.subscribers:
        workdir = Path(tempfile.mkdtemp(prefix="eventgate-connect-"))
        try:
            print(f"-- {count} subscribers, {args.concurrency} connecting at a time")
            report(run(count, args.concurrency, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
