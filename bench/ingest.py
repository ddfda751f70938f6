"""Ingest benchmark: durable seed-001 creates, updates and closes per second through real HTTP,
against the bare Starlette + msgspec stack, in one run.

Starts `eventgate serve` as a subprocess on a fresh SQLite database (or a scratch PostgreSQL
database beside --database-url), creates a channel, finds how many processes the server runs,
and measures these phases one after the other, each bounded by --seconds and --max-ops, with
the same load generator and concurrency:

  bare      POST /event/create to bench/bare_app.py: the same Starlette + msgspec + uvicorn
            stack (uvloop, httptools, same process count) decoding the same create body into
            an equivalent msgspec Struct and answering the same-shaped reply, storing nothing
  healthz   GET /healthz on the eventgate server: its HTTP stack alone
  creates   POST /event/create (seed 001 body): each one a durable, committed operation
  updates   POST /event/update on events created before (cycling over them)
  closes    POST /event/close, each on a different ongoing event created before

For each it prints ops/s, p50/p99 latency, errors (non-200 answers and lost connections), the
rate as a percentage of the bare stack and of healthz, the server's CPU (all its processes),
the load generator's CPU, the whole machine's CPU (the database, colleagues' jobs...) in % of
one core, and the server's CPU per operation; below the table, CPU per process and thread
(event loop vs the writer and other threads) and, with one server process, the mean group
commit from /metrics. The generator is a plain asyncio Protocol on uvloop sending pre-built
HTTP/1.1 requests over keep-alive connections (one per concurrent client, one request in
flight on each); its CPU column says how much of the machine it took from the server.
Updates and closes are not warmed up (the server is warm from the creates); closes may end
before --seconds when every event made so far is closed (the report says so).

The server is started the default way (`eventgate serve`, no --workers) unless --workers N
is given; the bare app runs as many processes as the server actually runs (which this script
counts; `eventgate serve` is expected to run os.cpu_count() by default).

    .venv/bin/python bench/ingest.py                      # 10 s per phase, concurrency 64
    .venv/bin/python bench/ingest.py --seconds 3          # a quick look
    .venv/bin/python bench/ingest.py --database-url postgresql://postgres@127.0.0.1:5432/test

Targets (2 cores): durable creates >= 5,000/s on SQLite (>= 3,000/s on PostgreSQL) with
p99 < 50 ms, >= 50 % of the bare stack; updates and closes no slower than creates (>= 95 % of
their rate, a margin for noise); no errors. The exit status is 1 when a target is missed.
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
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
EVENTGATE = str(Path(sys.executable).with_name("eventgate"))
BARE_APP = str(Path(__file__).resolve().with_name("bare_app.py"))
PASSWORD = "bench-password-1234"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

PHASES = ("bare", "healthz", "creates", "updates", "closes")
TARGET_CREATES = {"sqlite": 5000, "postgresql": 3000}
TARGET_P99_MS = 50.0
TARGET_OF_BARE = 0.50
TARGET_OF_CREATES = 0.95  # "no slower than creates", with a margin for run-to-run noise


# -- requests (built before a phase starts; the generator only writes bytes) -------------------


def _post(path: str, body: dict) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    return head + payload


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def create_request(channel_id: str) -> bytes:
    """The seed document's create example. No op_id: the server makes one, so the same bytes
    can be sent again and again, each time a new event."""
    now = int(time.time())
    return _post("/event/create", {
        "channel_id": channel_id, "password": PASSWORD, "title": "Database lag", "status": "ongoing",
        "message": "Replica delay > 30s", "severity": "high", "event_time": now, "started_at": now,
        "tags": ["db", "replica"],
    })


def follow_up_request(kind: str, channel_id: str, event_id: str) -> bytes:
    return _post(f"/event/{kind}", {
        "channel_id": channel_id, "password": PASSWORD, "event_id": event_id,
        "status": "resolved" if kind == "close" else "investigating", "message": "Replica delay > 30s",
        "severity": "high", "event_time": int(time.time()),
    })


@dataclass
class Work:
    """What one phase sends: one request again and again, or per-connection lists of requests
    (cycled through for updates, each sent once for closes)."""

    kind: str  # bare | healthz | creates | updates | closes
    port: int
    repeat: bytes = b""
    lists: list[list[bytes]] = field(default_factory=list)
    cycle: bool = False


# -- the load generator -------------------------------------------------------------------------


@dataclass
class GeneratorResult:
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""
    event_ids: list[str] = field(default_factory=list)
    cpu: float = 0.0
    started: float = 0.0
    ended: float = 0.0
    ran_out: int = 0  # connections that stopped because their list of requests was used up


EVENT_ID_KEY = b'"event_id":"'


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: sends its next request as soon as a reply is complete."""

    def __init__(self, next_request: Callable[[], bytes | None], result: GeneratorResult, keep_ids: bool) -> None:
        self.next_request = next_request
        self.result = result
        self.keep_ids = keep_ids
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.in_flight = False
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_next(self) -> None:
        request = self.next_request()
        if request is None:
            self.in_flight = False
            self.transport.close()  # type: ignore[union-attr]
            return
        self.in_flight = True
        self.sent_at = time.perf_counter()
        self.transport.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer.extend(data)
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            at = buffer.find(b"content-length:", 0, end)  # Starlette writes header names in lower case
            if at < 0:
                at = bytes(buffer[:end]).lower().find(b"content-length:")
            length = int(buffer[at + 15:buffer.find(b"\r\n", at, end + 2)]) if at >= 0 else 0
            total = end + 4 + length
            if len(buffer) < total:
                return
            latency = time.perf_counter() - self.sent_at
            status = int(buffer[9:12])
            result = self.result
            if status == 200:
                result.ok += 1
                result.latencies.append(latency)
                if self.keep_ids:
                    start = buffer.find(EVENT_ID_KEY, end) + len(EVENT_ID_KEY)
                    result.event_ids.append(buffer[start:buffer.find(b'"', start)].decode())
            else:
                result.failed += 1
                if not result.first_error:
                    result.first_error = f"{status} {bytes(buffer[end + 4:total])[:200]!r}"
            del buffer[:total]
            self.send_next()

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        if self.in_flight:
            self.result.failed += 1
            self.result.first_error = self.result.first_error or f"connection lost with a request in flight: {exc}"
        if not self.closed.done():
            self.closed.set_result(None)


async def _run(work: Work, connections: int, seconds: float, max_ops: int) -> GeneratorResult:
    loop = asyncio.get_running_loop()
    result = GeneratorResult()
    budget = [max_ops]
    deadline = [0.0]

    def repeating(request: bytes) -> Callable[[], bytes | None]:
        def next_request() -> bytes | None:
            if budget[0] <= 0 or time.perf_counter() >= deadline[0]:
                return None
            budget[0] -= 1
            return request
        return next_request

    def from_list(requests: list[bytes], cycle: bool) -> Callable[[], bytes | None]:
        position = [0]

        def next_request() -> bytes | None:
            if budget[0] <= 0 or time.perf_counter() >= deadline[0]:
                return None
            if position[0] >= len(requests):
                if not cycle or not requests:
                    result.ran_out += 1
                    return None
                position[0] = 0
            budget[0] -= 1
            request = requests[position[0]]
            position[0] += 1
            return request
        return next_request

    protocols = []
    for index in range(connections):
        next_request = repeating(work.repeat) if work.repeat else from_list(work.lists[index], work.cycle)
        _, protocol = await loop.create_connection(
            lambda: Connection(next_request, result, keep_ids=work.kind == "creates"), "127.0.0.1", work.port)
        protocols.append(protocol)
    result.started = time.perf_counter()
    deadline[0] = result.started + seconds
    for protocol in protocols:
        protocol.send_next()
    await asyncio.gather(*(p.closed for p in protocols))
    result.ended = time.perf_counter()
    return result


def _generator_process(work: Work, connections: int, seconds: float, max_ops: int, out) -> None:  # type: ignore[no-untyped-def]
    import uvloop

    uvloop.install()
    started = time.process_time()
    result = asyncio.run(_run(work, connections, seconds, max_ops))
    result.cpu = time.process_time() - started
    out.send(result)
    out.close()


def _split(count: int, parts: int) -> list[int]:
    return [count // parts + (1 if index < count % parts else 0) for index in range(parts)]


def run_generators(work: Work, connections: int, seconds: float, max_ops: int,
                   processes: int) -> GeneratorResult:
    """Run a phase in `processes` forked generator processes and merge what they measured."""
    context = multiprocessing.get_context("fork")
    workers, offset = [], 0
    for share, budget in zip(_split(connections, processes), _split(max_ops, processes)):
        part = Work(work.kind, work.port, work.repeat, work.lists[offset:offset + share], work.cycle)
        offset += share
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_generator_process, args=(part, share, seconds, budget, sender))
        process.start()
        workers.append((process, receiver))
    merged = GeneratorResult(started=float("inf"))
    for process, receiver in workers:
        part = receiver.recv()
        process.join()
        merged.ok += part.ok
        merged.failed += part.failed
        merged.latencies.extend(part.latencies)
        merged.event_ids.extend(part.event_ids)
        merged.first_error = merged.first_error or part.first_error
        merged.cpu += part.cpu
        merged.ran_out += part.ran_out
        merged.started = min(merged.started, part.started)
        merged.ended = max(merged.ended, part.ended)
    return merged


# -- processes: the server's tree, its CPU, starting and stopping -------------------------------


HELPER_PROCESSES = (b"multiprocessing.resource_tracker", b"multiprocessing.forkserver")


def _process_tree(root: int) -> list[int]:
    """root and all its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(text[text.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def serving_processes(root: int) -> list[int]:
    """The processes that serve requests: root's descendants other than multiprocessing's
    helpers (uvicorn --workers N: N spawned children under a supervisor), else root itself."""
    workers = []
    for pid in _process_tree(root):
        if pid == root:
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if not any(helper in command for helper in HELPER_PROCESSES):
            workers.append(pid)
    return workers or [root]


def _cpu_seconds_of(stat: Path) -> float:
    text = stat.read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_by_thread(root: int) -> dict[str, float]:
    """CPU seconds of every thread of root's process tree, keyed 'pid:role' where the role is
    'loop' for a process's main thread (a worker's event loop) and 'threads' for the others
    (the group-commit writer, the WAL checkpointer, the thread pool)."""
    used: dict[str, float] = {}
    for pid in _process_tree(root):
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                seconds = _cpu_seconds_of(task / "stat")
            except OSError:  # the thread ended meanwhile
                continue
            key = f"{pid}:{'loop' if task.name == str(pid) else 'threads'}"
            used[key] = used.get(key, 0.0) + seconds
    return used


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idling (and waiting for I/O), from /proc/stat:
    this server, the generator, the database, and whatever else the machine runs."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(port: int, process: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as sock:
                sock.sendall(HEALTHZ)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not become ready")


def _wait_for_processes(root: int, expected: int, timeout: float = 15.0) -> list[int]:
    """The serving processes once `expected` of them run, or once their number has not changed
    for a second (a server that runs fewer than expected)."""
    deadline = time.monotonic() + timeout
    found, stable_since = serving_processes(root), time.monotonic()
    while time.monotonic() < deadline and len(found) < expected:
        time.sleep(0.2)
        now = serving_processes(root)
        if len(now) != len(found):
            found, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= 1.0:
            break
    return found


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def create_channel(database_url: str) -> str:
    # Commands other than serve/migrate never create a database: make it first.
    subprocess.run([EVENTGATE, "migrate", "--database-url", database_url], check=True, capture_output=True)
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


def _write_batches(port: int) -> tuple[float, float, float]:
    """(transactions, requests, seconds) committed so far by the process that answers, from /metrics."""
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


# -- measuring ----------------------------------------------------------------------------------


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class PhaseReport:
    name: str
    ops: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    seconds: float
    server_cpu: float  # % of one core, all the server's processes
    generator_cpu: float  # % of one core
    machine_cpu: float  # % of one core, everything on the machine
    cpu_us_per_op: float
    first_error: str
    ran_out: int = 0
    by_thread: dict[str, float] = field(default_factory=dict)
    mean_batch: float = 0.0
    mean_batch_ms: float = 0.0


def measure(name: str, work: Work, server_root: int, args: argparse.Namespace,
            metrics_port: int | None = None) -> tuple[PhaseReport, GeneratorResult]:
    profiler = None
    if args.profile and name == "creates":
        # Collapsed stacks of every server thread and process, for flame graphs.
        profiler = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(server_root), "--subprocesses",
             "--threads", "--format", "raw", "--rate", "200", "--duration", str(max(1, int(args.seconds))),
             "--output", args.profile, "--nonblocking", *(["--gil"] if os.environ.get("PROFILE_GIL") else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    batches_before = _write_batches(metrics_port) if metrics_port else None
    threads_before = cpu_by_thread(server_root)
    machine_before, wall_before = machine_busy_seconds(), time.perf_counter()
    result = run_generators(work, args.concurrency, args.seconds, args.max_ops, args.processes)
    wall = time.perf_counter() - wall_before
    machine = machine_busy_seconds() - machine_before
    threads_after = cpu_by_thread(server_root)
    used = {key: seconds - threads_before.get(key, 0.0) for key, seconds in threads_after.items()}
    server_cpu = sum(used.values())
    report = PhaseReport(
        name=name, ops=result.ok, rate=result.ok / (result.ended - result.started),
        p50_ms=0.0, p99_ms=0.0, errors=result.failed, seconds=result.ended - result.started,
        server_cpu=100 * server_cpu / wall, generator_cpu=100 * result.cpu / wall, machine_cpu=100 * machine / wall,
        cpu_us_per_op=1e6 * server_cpu / max(1, result.ok + result.failed), first_error=result.first_error,
        ran_out=result.ran_out, by_thread={key: 100 * seconds / wall for key, seconds in used.items()},
    )
    result.latencies.sort()
    report.p50_ms = _percentile(result.latencies, 0.50) * 1000
    report.p99_ms = _percentile(result.latencies, 0.99) * 1000
    if batches_before is not None:
        transactions, requests, seconds = (a - b for a, b in zip(_write_batches(metrics_port), batches_before))
        report.mean_batch = requests / transactions if transactions else 0.0
        report.mean_batch_ms = 1000 * seconds / transactions if transactions else 0.0
    if profiler is not None:
        profiler.wait()
    return report, result


def _deal(event_ids: list[str], kind: str, channel_id: str, connections: int) -> list[list[bytes]]:
    """The pool's events dealt round-robin over the connections, as pre-built requests."""
    lists: list[list[bytes]] = [[] for _ in range(connections)]
    for index, event_id in enumerate(event_ids):
        lists[index % connections].append(follow_up_request(kind, channel_id, event_id))
    return lists


def run_bare(args: argparse.Namespace, processes: int, workdir: Path, channel_id: str) -> PhaseReport:
    port = _free_port()
    bare = subprocess.Popen(
        [sys.executable, BARE_APP, "--port", str(port), "--workers", str(processes)],
        cwd=workdir, stdout=subprocess.DEVNULL,
    )
    try:
        _wait_ready(port, bare, "bench/bare_app.py")
        running = _wait_for_processes(bare.pid, processes)
        if len(running) != processes:
            print(f"note: the bare app runs {len(running)} process(es), not {processes}", file=sys.stderr)
        work = Work("bare", port, repeat=create_request(channel_id))
        if args.warmup > 0:
            run_generators(work, args.concurrency, args.warmup, args.max_ops, args.processes)
        return measure("bare", work, bare.pid, args)[0]
    finally:
        _stop(bare)


# -- reporting ----------------------------------------------------------------------------------


def _cpu_by_process(by_thread: dict[str, float]) -> str:
    """'CPU: loop 80% + threads 30%' for one process; per process, the supervisor apart, for several."""
    shares: dict[int, dict[str, float]] = {}
    for key, share in by_thread.items():
        pid, role = key.split(":")
        shares.setdefault(int(pid), {"loop": 0.0, "threads": 0.0})[role] += share
    root = min(shares)  # the process started first: the supervisor when there are several
    if len(shares) == 1:
        return f"CPU: loop {shares[root]['loop']:.0f}% + threads {shares[root]['threads']:.0f}%"
    parts = [f"supervisor {sum(shares[root].values()):.0f}%"]
    busy = sorted(pid for pid in shares if pid != root and sum(shares[pid].values()) >= 1.0)  # not idle helpers
    for index, pid in enumerate(busy, 1):
        parts.append(f"process {index} loop {shares[pid]['loop']:.0f}% + threads {shares[pid]['threads']:.0f}%")
    return "CPU: " + ", ".join(parts)


def print_report(reports: list[PhaseReport], args: argparse.Namespace, database: str, label: str,
                 server_processes: int, expected_processes: int) -> bool:
    load = os.getloadavg()
    how = f"--workers {args.workers}" if args.workers else "the default"
    print(f"eventgate ingest: {label}, {server_processes} server process(es) ({how}), seed 001 bodies, "
          f"concurrency {args.concurrency}, {args.seconds:g} s / {args.max_ops:,} ops per phase at most, "
          f"{args.processes} generator process(es), {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if server_processes != expected_processes:
        print(f"note: the server runs {server_processes} process(es) where {expected_processes} were expected "
              f"({'--workers' if args.workers else 'os.cpu_count()'}); the bare app ran as many as the server")
    by_name = {r.name: r for r in reports}
    bare, healthz = by_name.get("bare"), by_name.get("healthz")
    print(f"{'phase':<16} {'ops':>8} {'ops/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'% bare':>7} "
          f"{'% healthz':>9} {'server CPU':>10} {'gen CPU':>7} {'machine':>7} {'CPU us/op':>9}")
    titles = {"bare": "bare create", "healthz": "healthz ceiling", "creates": "durable creates",
              "updates": "durable updates", "closes": "durable closes"}
    for r in reports:
        of_bare = f"{r.rate / bare.rate:.0%}" if bare and bare.rate and r.name != "bare" else ""
        of_healthz = f"{r.rate / healthz.rate:.0%}" if healthz and healthz.rate and r.name != "healthz" else ""
        print(f"{titles[r.name]:<16} {r.ops:>8} {r.rate:>8.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.errors:>6} "
              f"{of_bare:>7} {of_healthz:>9} {r.server_cpu:>9.0f}% {r.generator_cpu:>6.0f}% {r.machine_cpu:>6.0f}% "
              f"{r.cpu_us_per_op:>9.0f}")
    for r in reports:
        details = []
        if r.by_thread:
            details.append(_cpu_by_process(r.by_thread))
        if r.mean_batch:
            details.append(f"group commit {r.mean_batch:.1f} requests per transaction, {r.mean_batch_ms:.2f} ms each")
        if r.ran_out:
            details.append(f"ran out of events to {r.name[:-1]} after {r.seconds:.1f} s")
        if r.first_error:
            details.append(f"first error: {r.first_error}")
        if details:
            print(f"  {r.name}: " + "; ".join(details))

    creates = by_name.get("creates")
    if creates is None:
        return all(r.errors == 0 for r in reports)
    target = TARGET_CREATES[database]
    summary = f"durable creates {creates.rate:,.0f}/s, p99 {creates.p99_ms:.1f} ms"
    if bare is not None and bare.rate:
        summary += f" = {creates.rate / bare.rate:.0%} of the bare stack ({bare.rate:,.0f}/s)"
    summary += "".join(f"; {name} {by_name[name].rate / creates.rate:.0%} of creates"
                       for name in ("updates", "closes") if name in by_name and creates.rate)
    print(summary)
    checks = [(f"creates >= {target:,}/s", creates.rate >= target),
              (f"creates p99 < {TARGET_P99_MS:.0f} ms", creates.p99_ms < TARGET_P99_MS)]
    if bare is not None:
        checks.append((f"creates >= {TARGET_OF_BARE:.0%} of bare", creates.rate >= TARGET_OF_BARE * bare.rate))
    for name in ("updates", "closes"):
        if name in by_name:
            checks.append((f"{name} >= creates", by_name[name].rate >= TARGET_OF_CREATES * creates.rate))
    checks.append(("no errors", all(r.errors == 0 for r in reports)))
    print("targets: " + ", ".join(f"{text} {'ok' if passed else 'MISSED'}" for text, passed in checks))
    return all(passed for _, passed in checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", "--duration", dest="seconds", type=float, default=10.0,
                        help="seconds per measured phase (default 10)")
    parser.add_argument("--max-ops", type=int, default=1_000_000, help="requests per phase at most (default 1,000,000)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="unmeasured seconds before the bare, healthz and creates phases (default 2)")
    parser.add_argument("--concurrency", type=int, default=64, help="open connections (default 64)")
    parser.add_argument("--processes", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--workers", type=int, default=None,
                        help="pass --workers N to `eventgate serve` (default: not passed; the server decides)")
    parser.add_argument("--database-url", default=None,
                        help="run on a scratch database beside this PostgreSQL one instead of a fresh SQLite file")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument("--profile", default=None, metavar="FILE",
                        help="record the server with py-spy (pip install py-spy) during the creates phase "
                             "and write collapsed stacks to FILE")
    parser.add_argument("--server-arg", action="append", default=[], help="extra `eventgate serve` argument")
    args = parser.parse_args()
    phases = [name.strip() for name in args.phases.split(",") if name.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if ("updates" in phases or "closes" in phases) and "creates" not in phases:
        parser.error("updates and closes act on the events the creates phase makes: include creates")
    phases = [name for name in PHASES if name in phases]

    workdir = Path(tempfile.mkdtemp(prefix="eventgate-bench-"))
    database_url = args.database_url or f"sqlite:///{workdir}/eventgate.db"
    database = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    label = "SQLite (WAL, synchronous=FULL)" if database == "sqlite" else "PostgreSQL (scratch database)"
    scratch = None
    if database != "sqlite":
        scratch = ScratchPostgres(database_url)
        database_url = scratch.url
    port = _free_port()
    server = None
    try:
        channel_id = create_channel(database_url)
        server = subprocess.Popen(
            [EVENTGATE, "serve", "--port", str(port), "--database-url", database_url, "--log-level", "warning",
             *(["--workers", str(args.workers)] if args.workers else []), *args.server_arg],
            cwd=workdir, stdout=subprocess.DEVNULL,
        )
        _wait_ready(port, server, "eventgate serve")
        expected = args.workers or os.cpu_count() or 1
        processes = len(_wait_for_processes(server.pid, expected))
        # /metrics is per process: the group-commit means are only whole with one process.
        metrics_port = port if processes == 1 else None

        reports: list[PhaseReport] = []
        if "bare" in phases:
            reports.append(run_bare(args, processes, workdir, channel_id))
        if "healthz" in phases:
            work = Work("healthz", port, repeat=HEALTHZ)
            if args.warmup > 0:
                run_generators(work, args.concurrency, args.warmup, args.max_ops, args.processes)
            reports.append(measure("healthz", work, server.pid, args)[0])
        pool: list[str] = []
        if "creates" in phases:
            work = Work("creates", port, repeat=create_request(channel_id))
            if args.warmup > 0:
                pool.extend(run_generators(work, args.concurrency, args.warmup, args.max_ops,
                                           args.processes).event_ids)
            report, result = measure("creates", work, server.pid, args, metrics_port)
            reports.append(report)
            pool.extend(result.event_ids)
        for kind in ("updates", "closes"):
            if kind in phases:
                work = Work(kind, port, lists=_deal(pool, kind[:-1], channel_id, args.concurrency),
                            cycle=kind == "updates")
                reports.append(measure(kind, work, server.pid, args, metrics_port)[0])
        met = print_report(reports, args, database, label, processes, expected)
    finally:
        _stop(server)
        shutil.rmtree(workdir, ignore_errors=True)
        if scratch is not None:
            scratch.drop()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
