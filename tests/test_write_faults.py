"""The write path under store faults: bounded answers, never a hang or a 500, and nothing lost.

Faults covered, each against a real eventgate (in-process uvicorn on a real socket) over real
HTTP (httpx), on all three producer routes — seed 000 `POST /v1/channel/{id}/event/create`,
seed 001 `POST /event/create`, seed 002 `POST /events`:

- PostgreSQL down (a private cluster from tests/scratch_postgres.py, stopped with
  `pg_ctl -m immediate`, i.e. a crash): every write answers 503 `store_unavailable` with an
  integer Retry-After within the write deadline (Settings.write_timeout) — including writes
  whose channel is not in eventgate's caches yet; `GET /readyz` is 503 while it is down and 200
  after; writes resume by themselves when it returns (same eventgate, no restart); and every
  write acknowledged with 200 before, during or after the outage is stored, once, with `seq`
  dense (1..N) in the workspace and the event's timeline complete.
- SQLite file locked by another OS process (`BEGIN EXCLUSIVE` held): writes answer 503
  `store_unavailable` with Retry-After within the write deadline, and succeed again once the
  other process lets go; nothing acknowledged is lost.
- Write queue full (Settings.write_queue_size) while the SQLite file is locked: writes beyond
  the bound answer 503 `overloaded` at once, the waiting ones 503 `store_unavailable` at the
  deadline; none hangs, none is a 500; writes work again after the unlock.

Every request is bounded (httpx timeout HANG_BOUND): code that hangs fails the test instead of
hanging it. Deadlines are set to a few seconds through Settings so the file runs in well under
a minute. The PostgreSQL tests never touch EVENTGATE_TEST_DATABASE_URL's server; without
initdb/pg_ctl they skip, except under CI=true where they fail.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from eventgate.config import Settings
from eventgate.store.database import open_database
from eventgate.store.schema import operations, sequences
from tests.conftest import PASSWORD, RunningServer, start_server
from tests.helpers import body_form
from tests.scratch_postgres import ScratchPostgres

HANG_BOUND = 30.0  # seconds: no request may take longer; today's hangs fail here
WRITE_TIMEOUT = 2.0  # seconds: the write deadline the servers here run with
SLACK = 1.5  # seconds allowed beyond the deadline for the answer to travel back
RETRY_AFTER = re.compile(r"^\d+$")
ROUTES = ("seed000", "seed001", "seed002")


# -- servers and producers --------------------------------------------------------------------


@pytest.fixture
def make_server() -> Iterator[Callable[..., RunningServer]]:
    """make_server(database_url, **settings) → a running eventgate; stopped after the test."""
    started: list[RunningServer] = []

    def make(database_url: str, **overrides: Any) -> RunningServer:
        overrides.setdefault("write_timeout", WRITE_TIMEOUT)
        running = start_server(Settings(database_url=database_url, **overrides))
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@dataclass
class Answer:
    """One request's outcome: the reply (None when it did not come within HANG_BOUND) and its time."""

    route: str
    reply: httpx.Response | None
    seconds: float
    failure: str | None = None

    def describe(self) -> str:
        if self.reply is None:
            return f"{self.route}: no answer after {self.seconds:.1f}s ({self.failure})"
        return (f"{self.route}: {self.reply.status_code} after {self.seconds:.2f}s "
                f"Retry-After={self.reply.headers.get('retry-after')!r} {self.reply.text[:300]}")


@dataclass
class Producer:
    """Writes to one workspace through the three producer routes."""

    server: RunningServer
    workspace: str
    channel: str
    key: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = self.server.client()  # RunningServer clients time out after 30 s = HANG_BOUND

    @classmethod
    def in_new_workspace(cls, server: RunningServer) -> "Producer":
        workspace = server.create_workspace()
        return cls(server, workspace, server.create_channel(workspace_id=workspace),
                   server.create_key(workspace_id=workspace))

    def request(self, route: str, *, op_id: str | None = None, channel: str | None = None) -> tuple[str, dict, dict]:
        """(path, json body, headers) of one create on `route`."""
        channel = channel or self.channel
        op = {"op_id": op_id} if op_id else {}
        if route == "seed000":
            return (f"/v1/channel/{channel}/event/create",
                    {"password": PASSWORD, "event_type": "door_open", **op}, {})
        if route == "seed001":
            return "/event/create", body_form(channel, **op), {}
        if route == "seed002":
            headers = {"Authorization": f"Bearer {self.key}"}
            if op_id:
                headers["Idempotency-Key"] = op_id
            return "/events", {"title": "Disk full", "subtitle": "on db-1", "topics": ["ops"]}, headers
        raise AssertionError(route)

    def write(self, route: str, **options: Any) -> Answer:
        path, body, headers = self.request(route, **options)
        started = time.monotonic()
        try:
            reply = self.client.post(path, json=body, headers=headers)
        except httpx.TimeoutException as error:
            return Answer(route, None, time.monotonic() - started, f"{type(error).__name__}: hang")
        except httpx.TransportError as error:
            return Answer(route, None, time.monotonic() - started, f"{type(error).__name__}: {error}")
        return Answer(route, reply, time.monotonic() - started)

    def write_ok(self, route: str, **options: Any) -> Answer:
        answer = self.write(route, **options)
        assert answer.reply is not None and answer.reply.status_code in (200, 201), answer.describe()
        return answer


def created_event_id(answer: Answer) -> str:
    """The id of the event an acknowledged create made, as each route reports it."""
    assert answer.reply is not None
    body = answer.reply.json()
    return {"seed000": lambda: body["event_id"], "seed001": lambda: body["data"]["event_id"],
            "seed002": lambda: body["id"]}[answer.route]()


def assert_503(answer: Answer, code: str, *, within: float) -> None:
    """503 `code` with an integer Retry-After, in the route's error shape, within `within` seconds."""
    assert answer.reply is not None, answer.describe()
    reply = answer.reply
    assert reply.status_code == 503, answer.describe()
    assert RETRY_AFTER.match(reply.headers.get("retry-after", "")), answer.describe()
    body = reply.json()
    # Seeds 000/001 and seed 002 (tests/test_events_resource.py reads error_code the same way)
    # answer errors in the SPEC §2 envelope.
    assert body["error_code"] == code, answer.describe()
    assert body["success"] is False and body["data"] is None, answer.describe()
    assert isinstance(body["error"], str) and body["error"], answer.describe()
    assert answer.seconds <= within, f"answered too late: {answer.describe()}"


def write_until_ok(producer: Producer, route: str, *, within: float) -> list[Answer]:
    """Write until one succeeds; the answers on the way. Fails if none succeeds in time."""
    answers: list[Answer] = []
    deadline = time.monotonic() + within
    while True:
        answer = producer.write(route)
        answers.append(answer)
        if answer.reply is not None and answer.reply.status_code in (200, 201):
            return answers
        assert time.monotonic() < deadline, (
            f"{route}: no write succeeded within {within}s; last answers:\n"
            + "\n".join(a.describe() for a in answers[-5:]))
        time.sleep(0.2)


def stored_operations(database_url: str, workspace: str) -> list[tuple[int, str, str, str]]:
    """(seq, event_id, kind, op_id) of every stored operation of the workspace, by seq."""
    database = open_database(database_url)
    try:
        with database.reader.connect() as connection:
            return [tuple(row) for row in connection.execute(  # type: ignore[misc]
                sa.select(operations.c.seq, operations.c.event_id, operations.c.kind, operations.c.op_id)
                .where(operations.c.workspace_id == workspace).order_by(operations.c.seq))]
    finally:
        database.dispose()


def last_seq(database_url: str, workspace: str) -> int:
    database = open_database(database_url)
    try:
        with database.reader.connect() as connection:
            return connection.execute(
                sa.select(sequences.c.last_seq).where(sequences.c.workspace_id == workspace)).scalar_one()
    finally:
        database.dispose()


def assert_seq_dense(database_url: str, workspace: str) -> list[tuple[int, str, str, str]]:
    stored = stored_operations(database_url, workspace)
    seqs = [seq for seq, *_ in stored]
    assert seqs == list(range(1, len(stored) + 1)), f"seq is not 1..{len(stored)}: {seqs[:20]}…"
    assert last_seq(database_url, workspace) == len(stored)
    return stored


# -- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch_pg() -> Iterator[ScratchPostgres]:
    pg = ScratchPostgres.create()
    try:
        yield pg
    finally:
        pg.close()


@pytest.fixture
def pg_url(scratch_pg: ScratchPostgres) -> Iterator[str]:
    """A fresh database in the scratch cluster, which is running when the test starts."""
    scratch_pg.start()
    url = scratch_pg.create_database()
    yield url
    scratch_pg.start()  # a test may leave it stopped
    scratch_pg.drop_database(url)


@pytest.mark.parametrize("route", ROUTES)
def test_writes_answer_503_store_unavailable_while_postgres_is_down(scratch_pg, pg_url, make_server, route):
    producer = Producer.in_new_workspace(make_server(pg_url))
    producer.write_ok(route)  # the route works, and the channel (or key) is now known
    scratch_pg.stop("immediate")
    for _ in range(3):  # the first write meets the dead connections, the next ones a refused port
        assert_503(producer.write(route), "store_unavailable", within=WRITE_TIMEOUT + SLACK)


@pytest.mark.parametrize("route", ("seed000", "seed001"))
def test_a_write_to_a_channel_not_yet_cached_answers_503_while_postgres_is_down(
        scratch_pg, pg_url, make_server, route):
    """A channel's first write during an outage (as after its cache entry expires): still 503."""
    server = make_server(pg_url)
    producer = Producer.in_new_workspace(server)
    producer.write_ok(route)
    never_written = server.create_channel(workspace_id=producer.workspace, name="cold")
    scratch_pg.stop("immediate")
    assert_503(producer.write(route, channel=never_written), "store_unavailable", within=WRITE_TIMEOUT + SLACK)


def test_readyz_is_503_while_postgres_is_down_and_200_after(scratch_pg, pg_url, make_server):
    client = make_server(pg_url).client()
    assert client.get("/readyz").status_code == 200
    scratch_pg.stop("immediate")
    started = time.monotonic()
    reply = client.get("/readyz")
    assert reply.status_code == 503, reply.text
    assert time.monotonic() - started <= WRITE_TIMEOUT + SLACK
    scratch_pg.start()
    deadline = time.monotonic() + 15
    while (reply := client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, f"/readyz still {reply.status_code} 15s after PostgreSQL returned"
        time.sleep(0.2)


def test_writes_resume_by_themselves_when_postgres_returns(scratch_pg, pg_url, make_server):
    server = make_server(pg_url)
    producer = Producer.in_new_workspace(server)
    for route in ROUTES:
        producer.write_ok(route)
    scratch_pg.stop("immediate")
    for route in ROUTES:  # the outage is seen on every route (whatever the answer)
        producer.write(route)
    scratch_pg.start()
    for route in ROUTES:
        write_until_ok(producer, route, within=15)
    for route in ROUTES:  # and they keep working: not one lucky write
        for _ in range(5):
            producer.write_ok(route)
    assert server.thread.is_alive()


@dataclass
class Load:
    """Concurrent seed 000 create → update → close cycles and seed 001 creates, with our own
    op_ids; a request answered 5xx or not at all is sent again, unchanged, until it is 200."""

    base_url: str
    channel: str
    acknowledged: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # event_id → [(kind, op_id)]
    unexpected: list[str] = field(default_factory=list)
    interrupted: int = 0  # requests answered 5xx or not at all, sent again
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return sum(len(ops) for ops in self.acknowledged.values())

    async def _send_until_acknowledged(self, client: httpx.AsyncClient, path: str, body: dict) -> dict | None:
        give_up = None
        while True:
            if self.stop.is_set():
                # Finish what is in flight for a while after the stop, so it is either acknowledged or not.
                give_up = give_up or time.monotonic() + 10
                if time.monotonic() > give_up:
                    return None
            try:
                reply = await client.post(path, json=body)
            except httpx.TransportError:
                with self.lock:
                    self.interrupted += 1
                await asyncio.sleep(0.1)
                continue
            if reply.status_code == 200:
                return reply.json()
            if reply.status_code >= 500:
                with self.lock:
                    self.interrupted += 1
                await asyncio.sleep(0.1)
                continue
            with self.lock:
                self.unexpected.append(f"{path} {body.get('op_id')}: {reply.status_code} {reply.text[:200]}")
            return None

    def _ack(self, event_id: str, kind: str, op_id: str) -> None:
        with self.lock:
            self.acknowledged.setdefault(event_id, []).append((kind, op_id))

    async def _seed000_cycles(self, client: httpx.AsyncClient, worker: int) -> None:
        path = f"/v1/channel/{self.channel}/event"
        cycle = 0
        while not self.stop.is_set():
            cycle += 1
            event_id = f"w{worker}-c{cycle}"
            for kind, body in (("create", {"event_type": "door_open", "event_id": event_id}),
                               ("update", {"event_id": event_id, "attrs": {"cycle": cycle}}),
                               ("close", {"event_id": event_id})):
                op_id = f"{event_id}-{kind}"
                if await self._send_until_acknowledged(
                        client, f"{path}/{kind}", {"password": PASSWORD, "op_id": op_id, **body}) is None:
                    return
                self._ack(event_id, kind, op_id)

    async def _seed001_creates(self, client: httpx.AsyncClient, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            op_id = f"s1-w{worker}-{n}"
            reply = await self._send_until_acknowledged(client, "/event/create", body_form(self.channel, op_id=op_id))
            if reply is None:
                return
            self._ack(reply["data"]["event_id"], "create", op_id)

    def run(self, errors: list[BaseException]) -> None:
        async def main() -> None:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=HANG_BOUND,
                                         limits=httpx.Limits(max_connections=32)) as client:
                await asyncio.gather(*(self._seed000_cycles(client, w) for w in range(12)),
                                     *(self._seed001_creates(client, w) for w in range(4)))

        try:
            asyncio.run(main())
        except BaseException as error:  # noqa: BLE001 — reported by the test thread
            errors.append(error)


def test_nothing_acknowledged_is_lost_across_a_postgres_outage(scratch_pg, pg_url, make_server):
    server = make_server(pg_url)
    producer = Producer.in_new_workspace(server)
    load = Load(server.base_url, producer.channel)
    errors: list[BaseException] = []
    thread = threading.Thread(target=load.run, args=(errors,), daemon=True)

    def wait_for_acks(n: int, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while load.count() < n:
            assert thread.is_alive() and not errors, f"the load stopped {what}: {errors} {load.unexpected[:3]}"
            assert time.monotonic() < deadline, f"only {load.count()} of {n} writes acknowledged {what}"
            time.sleep(0.01)

    thread.start()
    try:
        wait_for_acks(200, 30, "before the outage")
        scratch_pg.stop("immediate")  # mid-load: batches are in flight
        during = load.count()
        time.sleep(2 * WRITE_TIMEOUT)
        assert load.interrupted > 0, "no write failed during the outage: was there one?"
        scratch_pg.start()
        wait_for_acks(load.count() + 200, 30, "after PostgreSQL returned")
    finally:
        load.stop.set()
        thread.join(HANG_BOUND + 15)
    assert not thread.is_alive(), "the load did not finish"
    assert not errors, errors

    acknowledged = {op_id for ops in load.acknowledged.values() for _, op_id in ops}
    stored = stored_operations(pg_url, producer.workspace)
    stored_op_ids = [op_id for *_, op_id in stored]
    missing = acknowledged - set(stored_op_ids)
    assert not missing, f"{len(missing)} acknowledged operations lost, e.g. {sorted(missing)[:5]}"
    # An acknowledged create that vanished also shows here, as its update answered 404 event_not_found.
    assert not load.unexpected, f"answers other than 200/5xx: {load.unexpected[:5]}"
    assert len(stored_op_ids) == len(set(stored_op_ids)), "an operation was stored twice"
    assert_seq_dense(pg_url, producer.workspace)
    assert load.count() >= during + 200

    reader = server.client(headers={"X-Api-Key": producer.key})
    for event_id, ops in load.acknowledged.items():
        reply = reader.get(f"/events/{event_id}/timeline")
        assert reply.status_code == 200, reply.text
        timeline = {entry["op_id"]: entry["kind"] for entry in reply.json()["data"]}
        assert [(timeline.get(op_id), op_id) for _, op_id in ops] == ops, event_id


# -- SQLite locked by another process ---------------------------------------------------------


LOCKER = textwrap.dedent("""
    import sqlite3, sys
    connection = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    connection.execute("ROLLBACK")
    connection.close()
    print("released", flush=True)
""")


class SqliteLocker:
    """Another OS process holding `BEGIN EXCLUSIVE` on the database file until release()."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() == "locked", f"the locker did not lock: {line!r} {self.process.stderr.read()}"  # type: ignore[union-attr]

    def release(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write("\n")  # type: ignore[union-attr]
                self.process.stdin.flush()  # type: ignore[union-attr]
                self.process.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "eventgate.db"


@pytest.fixture
def locker() -> Iterator[Callable[[Path], SqliteLocker]]:
    started: list[SqliteLocker] = []

    def lock(path: Path) -> SqliteLocker:
        started.append(SqliteLocker(path))
        return started[-1]

    yield lock
    for one in started:
        one.release()


def test_locked_sqlite_file_answers_503_then_resumes(sqlite_file, make_server, locker):
    url = f"sqlite:///{sqlite_file}"
    producer = Producer.in_new_workspace(make_server(url))
    acknowledged = [producer.write_ok(route, op_id=f"before-{route}") for route in ROUTES]
    held = locker(sqlite_file)
    try:
        with ThreadPoolExecutor(len(ROUTES)) as pool:  # together: one deadline, not three
            answers = list(pool.map(producer.write, ROUTES))
    finally:
        held.release()
    for answer in answers:
        assert_503(answer, "store_unavailable", within=WRITE_TIMEOUT + SLACK)
    for route in ROUTES:
        acknowledged.append(write_until_ok(producer, route, within=15)[-1])
        acknowledged.extend(producer.write_ok(route) for _ in range(3))
    stored = assert_seq_dense(url, producer.workspace)
    created = {event_id for _, event_id, kind, _ in stored if kind == "create"}
    acknowledged_events = {created_event_id(a) for a in acknowledged}
    assert len(acknowledged_events) == len(acknowledged)
    assert acknowledged_events <= created, f"acknowledged creates lost: {acknowledged_events - created}"


def test_full_write_queue_answers_overloaded_at_once(sqlite_file, make_server, locker):
    queue_size, fired, write_timeout = 4, 30, 3.0
    url = f"sqlite:///{sqlite_file}"
    server = make_server(url, write_queue_size=queue_size, write_timeout=write_timeout)
    producer = Producer.in_new_workspace(server)
    producer.write_ok("seed001")  # the channel password is verified and cached
    path, _, _ = producer.request("seed001")

    async def fire() -> list[Answer]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=HANG_BOUND,
                                     limits=httpx.Limits(max_connections=fired)) as client:
            async def one() -> Answer:
                started = time.monotonic()
                try:
                    reply = await client.post(path, json=body_form(producer.channel))
                except httpx.TimeoutException:
                    return Answer("seed001", None, time.monotonic() - started, "hang")
                return Answer("seed001", reply, time.monotonic() - started)

            return await asyncio.gather(*(one() for _ in range(fired)))

    held = locker(sqlite_file)
    try:
        answers = asyncio.run(fire())
    finally:
        held.release()
    report = "\n".join(a.describe() for a in sorted(answers, key=lambda a: a.seconds))
    assert all(a.reply is not None for a in answers), f"some writes hung:\n{report}"
    codes = [a.reply.json().get("error_code") if a.reply.status_code == 503 else a.reply.status_code  # type: ignore[union-attr]
             for a in answers]
    assert set(codes) <= {"overloaded", "store_unavailable"}, f"not all 503 overloaded/store_unavailable:\n{report}"
    overloaded = [a for a in answers if a.reply.json()["error_code"] == "overloaded"]  # type: ignore[union-attr]
    waited = [a for a in answers if a.reply.json()["error_code"] == "store_unavailable"]  # type: ignore[union-attr]
    # At most queue_size writes may wait; every one beyond answers overloaded, at once.
    assert len(waited) <= queue_size and len(overloaded) >= fired - queue_size, report
    assert waited, f"no write waited for the store:\n{report}"
    for answer in overloaded:
        assert_503(answer, "overloaded", within=write_timeout / 2)
    for answer in waited:
        assert_503(answer, "store_unavailable", within=write_timeout + SLACK)
        assert answer.seconds >= write_timeout - 0.5, f"answered before the deadline: {answer.describe()}"
    write_until_ok(producer, "seed001", within=15)
    for _ in range(5):
        producer.write_ok("seed001")
    assert_seq_dense(url, producer.workspace)
