"""Ingest benchmark: durable lifecycle operations per second through real HTTP.

Starts `eventgate serve` as a subprocess on a fresh SQLite database (or --database-url),
creates a channel, then runs two phases with the same load generator and concurrency:

  ceiling    GET /healthz on the same server: what the HTTP stack alone can do
  lifecycle  create -> update -> close cycles (seed 000 path form, or seed 001 body form)

and prints ops/s, p50/p99 latency, the ratio to the ceiling, and the CPU used by the
server and by the load generator in each phase. The generator is a plain asyncio
Protocol over keep-alive HTTP/1.1 on uvloop (one connection per concurrent client),
optionally split over several processes, so that it is not what limits the numbers:
check that the server sits near 100 % of a core in the ceiling phase.

    .venv/bin/python bench/ingest.py                      # 20 s per phase, concurrency 64
    .venv/bin/python bench/ingest.py --duration 5 --form 001
    .venv/bin/python bench/ingest.py --database-url postgresql://postgres@127.0.0.1:5432/test

Targets (2 cores): >= 3,000 lifecycle ops/s, p99 < 50 ms, >= 40 % of the ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
PASSWORD = "bench-password-1234"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

TARGET_OPS = 3000
TARGET_P99_MS = 50.0
TARGET_RATIO = 0.40


# -- requests ---------------------------------------------------------------------------------


def _post(path: str, body: dict) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    return head + payload


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class CycleRequests:
    """The three requests of one lifecycle cycle, built fresh for every cycle."""

    def __init__(self, form: str, channel_id: str, prefix: str) -> None:
        self.form = form
        self.channel_id = channel_id
        self.prefix = prefix
        self.counter = 0

    def next_cycle(self) -> list[bytes]:
        self.counter += 1
        now = int(time.time())
        if self.form == "000":
            event_id = f"{self.prefix}-{self.counter}"
            base = f"/v1/channel/{self.channel_id}/event/"
            return [
                _post(base + "create", {"password": PASSWORD, "event_id": event_id, "event_type": "door_open",
                                        "severity": "high", "started_at": now, "attrs": {"battery": 80}}),
                _post(base + "update", {"password": PASSWORD, "event_id": event_id,
                                        "attrs": {"still_open": True}}),
                _post(base + "close", {"password": PASSWORD, "event_id": event_id, "ended_at": now + 1}),
            ]
        # Seed 001: the server chooses the event id, so update/close are built from the create reply.
        return [_post("/event/create", {
            "channel_id": self.channel_id, "password": PASSWORD, "title": "Database lag", "status": "ongoing",
            "message": "Replica delay > 30s", "severity": "high", "event_time": now, "tags": ["db", "replica"],
        })]

    def follow_up(self, kind: str, event_id: str) -> bytes:
        return _post(f"/event/{kind}", {
            "channel_id": self.channel_id, "password": PASSWORD, "event_id": event_id,
            "status": "closed" if kind == "close" else "investigating", "message": "Replica delay > 30s",
            "severity": "high", "event_time": int(time.time()),
        })


# -- the load generator -------------------------------------------------------------------------


@dataclass
class PhaseResult:
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends its next request as soon as a reply is complete."""

    def __init__(self, next_request, on_reply) -> None:  # type: ignore[no-untyped-def]
        self.next_request = next_request
        self.on_reply = on_reply
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send(None)

    def send(self, reply: tuple[int, bytes] | None) -> None:
        request = self.next_request(reply)
        if request is None:
            self.transport.close()  # type: ignore[union-attr]
            return
        self.sent_at = time.perf_counter()
        self.transport.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer.extend(data)
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                    break
            total = end + 4 + length
            if len(buffer) < total:
                return
            status = int(head[9:12])
            body = bytes(buffer[end + 4:total])
            del buffer[:total]
            self.on_reply(time.perf_counter() - self.sent_at, status, body)
            self.send((status, body))

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        if not self.closed.done():
            self.closed.set_result(exc)


async def _run_phase(port: int, phase: str, connections: int, duration: float, form: str,
                     channel_id: str) -> PhaseResult:
    loop = asyncio.get_running_loop()
    result = PhaseResult()
    deadline = time.perf_counter() + duration

    def on_reply(latency: float, status: int, body: bytes) -> None:
        if status == 200:
            result.ok += 1
            result.latencies.append(latency)
        else:
            result.failed += 1
            if not result.first_error:
                result.first_error = f"{status} {body[:200]!r}"

    def healthz_requests():  # type: ignore[no-untyped-def]
        def next_request(reply):  # type: ignore[no-untyped-def]
            return HEALTHZ if time.perf_counter() < deadline else None
        return next_request

    def lifecycle_requests(index: int):  # type: ignore[no-untyped-def]
        cycles = CycleRequests(form, channel_id, f"b{os.getpid()}-{index}-{secrets.token_hex(3)}")
        pending: list[bytes] = []
        step = {"kind": "create", "event_id": ""}

        def next_request(reply):  # type: ignore[no-untyped-def]
            if form == "001" and reply is not None:
                status, body = reply
                if step["kind"] == "create" and status == 200:
                    step["event_id"] = json.loads(body)["data"]["event_id"]
                    pending.extend([cycles.follow_up("update", step["event_id"]),
                                    cycles.follow_up("close", step["event_id"])])
                elif status != 200:
                    pending.clear()  # abandon this cycle, start a new one
            if not pending:
                if time.perf_counter() >= deadline:
                    return None  # stop only between cycles: every event ends closed
                pending.extend(cycles.next_cycle())
            request = pending.pop(0)
            step["kind"] = "create" if b"/create " in request[:120] else "other"
            return request
        return next_request

    protocols = []
    for index in range(connections):
        next_request = healthz_requests() if phase == "ceiling" else lifecycle_requests(index)
        _, protocol = await loop.create_connection(lambda: Connection(next_request, on_reply), "127.0.0.1", port)
        protocols.append(protocol)
    await asyncio.gather(*(p.closed for p in protocols))
    return result


def _generator_process(port: int, phase: str, connections: int, duration: float, form: str, channel_id: str,
                       out) -> None:  # type: ignore[no-untyped-def]
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    started = time.process_time()
    result = asyncio.run(_run_phase(port, phase, connections, duration, form, channel_id))
    out.send((result.ok, result.failed, result.latencies, result.first_error, time.process_time() - started))
    out.close()


def run_generators(port: int, phase: str, connections: int, duration: float, form: str, channel_id: str,
                   processes: int) -> tuple[PhaseResult, float]:
    """Run the phase in `processes` generator processes; returns the merged result and their CPU seconds."""
    context = multiprocessing.get_context("fork")
    workers = []
    for index in range(processes):
        share = connections // processes + (1 if index < connections % processes else 0)
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_generator_process,
                                  args=(port, phase, share, duration, form, channel_id, sender))
        process.start()
        workers.append((process, receiver))
    merged = PhaseResult()
    cpu = 0.0
    for process, receiver in workers:
        ok, failed, latencies, first_error, used = receiver.recv()
        process.join()
        merged.ok += ok
        merged.failed += failed
        merged.latencies.extend(latencies)
        merged.first_error = merged.first_error or first_error
        cpu += used
    return merged, cpu


# -- the server ---------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its threads, from /proc/<pid>/stat."""
    return _cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def _thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of the event loop thread (the main thread) and of all other threads together
    (the group-commit writer, the WAL checkpointer, the thread pool)."""
    result = {"event loop": 0.0, "other threads": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            used = _cpu_seconds_of(task / "stat")
        except OSError:  # the thread ended meanwhile
            continue
        result["event loop" if task.name == str(pid) else "other threads"] += used
    return result


def _cpu_seconds_of(stat: Path) -> float:
    text = stat.read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as sock:
                sock.sendall(HEALTHZ)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not become ready")


def _create_channel(database_url: str) -> str:
    output = subprocess.run(
        [EVENTGATE, "channel", "create", "--name", "bench", "--password", PASSWORD, "--json",
         "--database-url", database_url],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output)["channel_id"]


class ScratchPostgres:
    """A fresh database beside the one named by --database-url, dropped afterwards."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        from eventgate.store.database import normalize_url

        base = sa.make_url(normalize_url(url))
        self.name = f"eventgate_bench_{secrets.token_hex(4)}"
        self.admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = base.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


# -- reporting ----------------------------------------------------------------------------------


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _write_batches(port: int) -> tuple[float, float, float]:
    """(transactions, requests, seconds) committed so far, from the server's /metrics."""
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    values = {}
    for line in data.decode(errors="replace").splitlines():
        for name in ("eventgate_write_batch_size_count", "eventgate_write_batch_size_sum",
                     "eventgate_write_batch_seconds_sum"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return (values.get("eventgate_write_batch_size_count", 0.0), values.get("eventgate_write_batch_size_sum", 0.0),
            values.get("eventgate_write_batch_seconds_sum", 0.0))


@dataclass
class PhaseReport:
    name: str
    rate: float
    p50_ms: float
    p99_ms: float
    failed: int
    server_cpu: float
    generator_cpu: float
    first_error: str
    server_cpu_per_request_us: float = 0.0
    mean_batch: float = 0.0
    mean_batch_ms: float = 0.0
    threads: dict[str, float] = field(default_factory=dict)


def measure(name: str, port: int, server_pid: int, args: argparse.Namespace, channel_id: str) -> PhaseReport:
    phase = "ceiling" if name == "ceiling" else "lifecycle"
    if args.warmup > 0:
        run_generators(port, phase, args.concurrency, args.warmup, args.form, channel_id, args.processes)
    profiler = None
    if args.profile and phase == "lifecycle":
        # Collapsed stacks of every server thread, for flame graphs or `sort | uniq`-style reading.
        profiler = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(server_pid), "--threads",
             "--format", "raw", "--rate", "200", "--duration", str(int(args.duration)),
             "--output", args.profile, "--nonblocking", *(["--gil"] if os.environ.get("PROFILE_GIL") else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    batches_before = _write_batches(port)
    threads_before = _thread_cpu_seconds(server_pid)
    cpu_before, wall_before = _cpu_seconds(server_pid), time.perf_counter()
    result, generator_cpu = run_generators(port, phase, args.concurrency, args.duration, args.form, channel_id,
                                           args.processes)
    wall = time.perf_counter() - wall_before
    server_cpu = _cpu_seconds(server_pid) - cpu_before
    threads = {name: 100 * (used - threads_before.get(name, 0.0)) / wall
               for name, used in _thread_cpu_seconds(server_pid).items()}
    transactions, requests, seconds = (a - b for a, b in zip(_write_batches(port), batches_before))
    if profiler is not None:
        profiler.wait()
    return PhaseReport(
        name=name, rate=result.ok / wall, p50_ms=_percentile(result.latencies, 0.50) * 1000,
        p99_ms=_percentile(result.latencies, 0.99) * 1000, failed=result.failed,
        server_cpu=100 * server_cpu / wall, generator_cpu=100 * generator_cpu / wall,
        first_error=result.first_error,
        server_cpu_per_request_us=1e6 * server_cpu / max(1, result.ok + result.failed),
        mean_batch=requests / transactions if transactions else 0.0,
        mean_batch_ms=1000 * seconds / transactions if transactions else 0.0,
        threads={name: share for name, share in threads.items() if share >= 1.0},
    )


def print_report(reports: list[PhaseReport], args: argparse.Namespace, database_label: str) -> bool:
    load = os.getloadavg()
    print(f"eventgate ingest benchmark: {database_label}, seed {args.form} bodies, concurrency "
          f"{args.concurrency}, {args.duration:.0f} s per phase, {args.processes} generator process(es), "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'phase':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7} {'server CPU':>11} "
          f"{'generator CPU':>14} {'CPU us/req':>11}")
    for r in reports:
        print(f"{r.name:<10} {r.rate:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.failed:>7} "
              f"{r.server_cpu:>10.0f}% {r.generator_cpu:>13.0f}% {r.server_cpu_per_request_us:>11.0f}")
        if r.threads:
            print("  server CPU by thread: " + ", ".join(f"{name} {share:.0f}%" for name, share in r.threads.items()))
        if r.mean_batch:
            print(f"  group commit: {r.mean_batch:.1f} requests per transaction, {r.mean_batch_ms:.2f} ms each")
        if r.first_error:
            print(f"  first failure: {r.first_error}")
    by_name = {r.name: r for r in reports}
    ceiling, lifecycle = by_name.get("ceiling"), by_name.get("lifecycle")
    if not (ceiling and lifecycle):
        return True
    ratio = lifecycle.rate / ceiling.rate if ceiling.rate else 0.0
    print(f"lifecycle: {lifecycle.rate:.0f} durable ops/s, p50 {lifecycle.p50_ms:.1f} ms, "
          f"p99 {lifecycle.p99_ms:.1f} ms; ceiling {ceiling.rate:.0f} req/s; ratio {ratio:.0%}")
    checks = [
        (f"ops/s >= {TARGET_OPS}", lifecycle.rate >= TARGET_OPS),
        (f"p99 < {TARGET_P99_MS:.0f} ms", lifecycle.p99_ms < TARGET_P99_MS),
        (f"ratio >= {TARGET_RATIO:.0%}", ratio >= TARGET_RATIO),
        ("no failed requests", lifecycle.failed == 0 and ceiling.failed == 0),
    ]
    print("targets: " + ", ".join(f"{label} {'ok' if passed else 'MISSED'}" for label, passed in checks))
    if ceiling.server_cpu < 85:
        print(f"note: the server used {ceiling.server_cpu:.0f}% CPU in the ceiling phase (< 85 %): the machine "
              "is busy or the generator limits the ceiling; treat the ratio with care")
    return all(passed for _, passed in checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase (default 20)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each phase")
    parser.add_argument("--concurrency", type=int, default=64, help="open connections (default 64)")
    parser.add_argument("--processes", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--form", choices=("000", "001"), default="000",
                        help="seed 000 path form (client-chosen event ids) or seed 001 body form")
    parser.add_argument("--database-url", default=None,
                        help="use this database instead of a fresh temporary SQLite file")
    parser.add_argument("--phases", default="ceiling,lifecycle", help="comma-separated subset to run")
    parser.add_argument("--profile", default=None, metavar="FILE",
                        help="record the server with py-spy (pip install py-spy) during the lifecycle phase "
                             "and write collapsed stacks to FILE")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `eventgate serve` argument")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="eventgate-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir}/eventgate.db"
    label = "SQLite (WAL, synchronous=FULL)" if database_url.startswith("sqlite") else "PostgreSQL"
    scratch = None
    if not database_url.startswith("sqlite"):
        scratch = ScratchPostgres(database_url)
        database_url = scratch.url
    port = _free_port()
    server = None
    try:
        channel_id = _create_channel(database_url)
        server = subprocess.Popen(
            [EVENTGATE, "serve", "--port", str(port), "--database-url", database_url, "--log-level", "warning",
             *args.server_arg],
            cwd=workdir, stdout=subprocess.DEVNULL,
        )
        _wait_ready(port, server)
        reports = [measure(name.strip(), port, server.pid, args, channel_id)
                   for name in args.phases.split(",") if name.strip()]
        met = print_report(reports, args, label)
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        if scratch is not None:
            scratch.drop()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
