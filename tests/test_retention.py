"""Retention (`serve --retention-days N`, SPEC §12, docs/retention.md): closed events older than
N days go with their timeline and tags, a small batch per transaction; the workspace's mark
names the highest seq removed and only grows; a live subscriber resuming from below the mark
gets a `gap` frame, then every operation still stored, in order, once.

Events are made old by rewriting their closing time (`updated_at`) in the database; nothing
sleeps. Every test works in a workspace of its own and runs retention on it alone, so its
counts are exact on the session's shared database.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import httpx
import pytest
import sqlalchemy as sa

from eventgate.domain.times import now_ms
from eventgate.hub.sequencer import WorkspaceSequencer
from eventgate.store.database import Database, open_database
from eventgate.store.maintenance import Maintenance
from eventgate.store.retention import raise_mark, remove_expired_events, retention_mark
from eventgate.store.schema import event_tags, events, operations, retention_marks
from eventgate.store.streams import operations_to_fill
from tests.conftest import _backends, fresh_database_url
from tests.helpers import body_form, lifecycle_body
from tests.live_client import (
    SSE_PATH,
    LiveWorkspace,
    Producers,
    ServeProcess,
    both_servers,  # noqa: F401  (fixture)
    close,
    frames_server_factory,  # noqa: F401  (fixture)
    live,  # noqa: F401  (fixture)
    live_both,  # noqa: F401  (fixture)
    prepare_database,
    read_frame,
    subscribe,
    update,
)

DAY_MS = 86_400_000
RETENTION_MS = 30 * DAY_MS


# -- helpers ----------------------------------------------------------------------------------


def age(database: Database, workspace_id: str, event_ids: list[str], days: float = 31) -> None:
    """Make the events look as if their last change (their closing) was `days` ago."""
    with database.writer.begin() as connection:
        connection.execute(sa.update(events)
                           .where(events.c.workspace_id == workspace_id, events.c.id.in_(event_ids))
                           .values(updated_at=now_ms() - int(days * DAY_MS)))


def retain(live: LiveWorkspace, **options: Any):  # type: ignore[no-untyped-def]
    """One retention round over the test's workspace (30 days)."""
    return remove_expired_events(live.server.database, older_than_ms=RETENTION_MS,
                                 workspace_ids=[live.workspace_id], **options)


def stored_seqs(database: Database, workspace_id: str) -> list[int]:
    with database.reader.connect() as connection:
        return list(connection.execute(sa.select(operations.c.seq).where(operations.c.workspace_id == workspace_id)
                                       .order_by(operations.c.seq)).scalars())


def event_ids(database: Database, workspace_id: str) -> set[str]:
    with database.reader.connect() as connection:
        return set(connection.execute(sa.select(events.c.id).where(events.c.workspace_id == workspace_id)).scalars())


def tag_count(database: Database, workspace_id: str) -> int:
    with database.reader.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(event_tags)
                                  .where(event_tags.c.workspace_id == workspace_id)).scalar_one()


def mark_of(database: Database, workspace_id: str) -> int:
    with database.reader.connect() as connection:
        return retention_mark(connection, workspace_id)


def closed_event(live: LiveWorkspace, **fields: Any) -> str:
    event_id = live.create(**fields)
    close(live.client, live.channel, event_id)
    return event_id


def reader(live: LiveWorkspace) -> httpx.Client:
    return live.server.client(headers={"Authorization": f"Bearer {live.key}"})


@pytest.fixture
def history(live_both: LiveWorkspace) -> tuple[LiveWorkspace, dict[str, int]]:
    """A workspace whose seqs 1 and 3 (the create and close of an old event) were removed:

    1 create A (removed)   2 create B   3 close A (removed)   4 create C   5 update B
    """
    live = live_both
    first = live.create(title="A")
    second = live.create(title="B")
    close(live.client, live.channel, first)
    live.create(title="C")
    update(live.client, live.channel, second)
    age(live.server.database, live.workspace_id, [first])
    result = retain(live)
    assert result.operations == 2 and result.marks == {live.workspace_id: 3}
    return live, {"mark": 3, "latest": 5}


def frames_until_seq(read: Any, seq: int, timeout: float = 30) -> list[dict[str, Any]]:
    """Every frame but heartbeats, until an event with `seq` or more."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        frame = read(max(0.1, deadline - time.monotonic()))
        if frame["type"] == "heartbeat":
            continue
        frames.append(frame)
        if frame["type"] == "event" and frame["seq"] >= seq:
            return frames


# -- what is removed --------------------------------------------------------------------------


def test_old_closed_events_go_with_their_timeline_and_tags(live):
    database = live.server.database
    old = closed_event(live, tags=["kitchen", "retention-old"], title="retention-old-words")
    recent = closed_event(live, tags=["kitchen"])
    still_open = live.create(tags=["garage"])
    age(database, live.workspace_id, [old, still_open])  # an open event stays, however old
    before = tag_count(database, live.workspace_id)

    result = retain(live)

    assert (result.events, result.operations, result.tags) == (1, 2, 2)
    assert event_ids(database, live.workspace_id) == {recent, still_open}
    assert tag_count(database, live.workspace_id) == before - 2
    with database.reader.connect() as connection:
        old_ops = connection.execute(sa.select(sa.func.count()).select_from(operations)
                                     .where(operations.c.workspace_id == live.workspace_id,
                                            operations.c.event_id == old)).scalar_one()
    assert old_ops == 0
    assert stored_seqs(database, live.workspace_id) == [3, 4, 5]


def test_a_removed_event_reads_as_unknown_and_leaves_the_listings(live):
    old = closed_event(live, tags=["retention-listed"], title="retentionword")
    kept = closed_event(live, tags=["retention-listed"], title="retentionword")
    age(live.server.database, live.workspace_id, [old])
    retain(live)
    api = reader(live)
    for path in (f"/events/{old}", f"/events/{old}/timeline"):
        reply = api.get(path)
        assert reply.status_code == 404 and reply.json()["error_code"] == "event_not_found", reply.text
    assert api.get(f"/events/{kept}").status_code == 200
    listed = [e["id"] for e in api.get("/events", params={"active": "false"}).json()["data"]]
    assert listed == [kept]
    assert [e["id"] for e in api.get("/events", params={"topic": "retention-listed"}).json()["data"]] == [kept]
    assert [e["id"] for e in api.get("/events", params={"q": "retentionword"}).json()["data"]] == [kept]


def test_a_replayed_request_whose_event_was_removed_is_404_not_500(live):
    writer = live.server.client(headers={"Authorization": f"Bearer {live.new_key(('events:write', 'events:read'))}",
                                         "Idempotency-Key": "retention-replay-1"})
    body = {"title": "Disk full", "subtitle": "on db-1", "topics": ["ops"], "channel_id": live.channel}
    first = writer.post("/events", json=body)
    assert first.status_code == 201, first.text
    event_id = first.json()["id"]
    close(live.client, live.channel, event_id)
    age(live.server.database, live.workspace_id, [event_id])
    retain(live)
    replay = writer.post("/events", json=body)
    assert replay.status_code == 404 and replay.json()["error_code"] == "event_not_found", replay.text
    # The record still answers for the request: it did not create the event a second time.
    assert event_ids(live.server.database, live.workspace_id) == set()


def test_a_replayed_producer_request_whose_event_was_removed_gets_its_first_answer(live):
    body = body_form(live.channel, op_id="retention-op-1")
    first = live.client.post("/event/create", json=body)
    assert first.status_code == 200, first.text
    event_id = first.json()["data"]["event_id"]
    close(live.client, live.channel, event_id)
    age(live.server.database, live.workspace_id, [event_id])
    retain(live)
    replay = live.client.post("/event/create", json=body)
    assert replay.status_code == 200 and replay.json()["data"] == first.json()["data"], replay.text
    assert event_ids(live.server.database, live.workspace_id) == set()


def test_updating_a_removed_event_is_404(live):
    old = closed_event(live)
    age(live.server.database, live.workspace_id, [old])
    retain(live)
    reply = live.client.post("/event/update", json=lifecycle_body(live.channel, old))
    assert reply.status_code == 404, reply.text


def age_operations(database: Database, workspace_id: str, event_ids: list[str], days: float = 31) -> None:
    """Make the events' operations look as if they were received `days` ago."""
    with database.writer.begin() as connection:
        connection.execute(sa.update(operations)
                           .where(operations.c.workspace_id == workspace_id, operations.c.event_id.in_(event_ids))
                           .values(received_at=now_ms() - int(days * DAY_MS)))


def deleted_event(live: LiveWorkspace, writer: httpx.Client) -> str:
    event_id = live.create()
    assert writer.delete(f"/events/{event_id}").status_code == 204
    return event_id


def test_the_timeline_of_an_event_deleted_long_ago_goes_too(live):
    database = live.server.database
    writer = live.server.client(headers={"Authorization": f"Bearer {live.new_key(('events:write',))}"})
    long_ago = deleted_event(live, writer)   # seqs 1, 2
    kept = live.create()                     # 3
    recently = deleted_event(live, writer)   # 4, 5
    age_operations(database, live.workspace_id, [long_ago])
    scanned: dict[str, int] = {}
    result = retain(live, deletions_scanned=scanned)
    assert (result.events, result.deleted_timelines, result.operations) == (0, 1, 2)
    assert stored_seqs(database, live.workspace_id) == [3, 4, 5]
    assert mark_of(database, live.workspace_id) == 2
    # The search stopped at the first operation received after the cutoff; the next round goes on from there.
    assert scanned == {live.workspace_id: 2}
    assert event_ids(database, live.workspace_id) == {kept} and recently


# -- batches and the mark ---------------------------------------------------------------------


def test_removal_goes_in_small_batches_one_transaction_each(live):
    old = [closed_event(live) for _ in range(12)]
    age(live.server.database, live.workspace_id, old)
    result = retain(live, batch_size=5)
    assert (result.events, result.operations, result.transactions) == (12, 24, 3)
    assert event_ids(live.server.database, live.workspace_id) == set()


def test_a_round_stops_between_batches_when_asked(live):
    old = [closed_event(live) for _ in range(6)]
    age(live.server.database, live.workspace_id, old)
    asked: list[int] = []

    def stop_after_one_batch() -> bool:
        asked.append(1)
        return len(asked) > 1

    result = retain(live, batch_size=2, should_stop=stop_after_one_batch)
    assert (result.events, result.transactions) == (2, 1)
    assert len(event_ids(live.server.database, live.workspace_id)) == 4


def test_maintenance_runs_retention_at_start_and_stops_at_once(live):
    old = [closed_event(live) for _ in range(3)]
    age(live.server.database, live.workspace_id, old)
    maintenance = Maintenance(live.server.database, idempotency_retention_ms=7 * DAY_MS,
                              event_retention_ms=RETENTION_MS, retention_interval=3600, interval=3600)
    maintenance.start()
    try:
        deadline = time.monotonic() + 60
        while event_ids(live.server.database, live.workspace_id):
            assert time.monotonic() < deadline, "the maintenance thread removed nothing"
            time.sleep(0.05)
    finally:
        thread = maintenance._thread
        maintenance.stop()
    assert thread is not None and not thread.is_alive()  # not left waiting out its hour
    assert mark_of(live.server.database, live.workspace_id) == 6


def test_a_round_with_nothing_old_takes_no_write_transaction(live):
    closed_event(live)
    live.create()
    result = retain(live)
    assert (result.events, result.transactions, result.marks) == (0, 0, {})
    assert mark_of(live.server.database, live.workspace_id) == 0


def test_the_mark_is_the_highest_removed_seq_and_never_shrinks(live):
    database = live.server.database
    early = closed_event(live)   # seqs 1, 2
    late = closed_event(live)    # seqs 3, 4
    age(database, live.workspace_id, [late])
    assert retain(live).marks == {live.workspace_id: 4}
    age(database, live.workspace_id, [early])
    result = retain(live)
    assert result.operations == 2 and result.marks == {live.workspace_id: 4}
    assert mark_of(database, live.workspace_id) == 4
    with database.reader.begin() as connection:  # another process's smaller mark loses
        assert raise_mark(connection, database.is_sqlite, live.workspace_id, 2) == 4
    assert mark_of(database, live.workspace_id) == 4


def test_retention_in_several_processes_at_once_removes_each_event_once(live):
    old = [closed_event(live) for _ in range(30)]
    age(live.server.database, live.workspace_id, old)
    databases = [open_database(live.server.settings.database_url) for _ in range(3)]
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(databases))

    def run(database: Database) -> None:
        try:
            start.wait()
            results.append(remove_expired_events(database, older_than_ms=RETENTION_MS, batch_size=4,
                                                 workspace_ids=[live.workspace_id]))
        except BaseException as error:  # noqa: BLE001 — reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(database,)) for database in databases]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        for database in databases:
            database.dispose()
    assert not errors, errors
    assert sum(r.events for r in results) == 30 and sum(r.operations for r in results) == 60
    assert event_ids(live.server.database, live.workspace_id) == set()
    assert mark_of(live.server.database, live.workspace_id) == 60


def test_retention_while_producers_write_loses_no_acknowledged_write(live):
    database = live.server.database
    old = [closed_event(live) for _ in range(60)]
    age(database, live.workspace_id, old)
    removed = 0
    with Producers(live.base_url, live.channel, threads=3) as producers:
        producers.wait_for(5)
        while True:  # batches of 3 between the producers' commits
            result = retain(live, batch_size=3)
            removed += result.events
            if not result.events:
                break
        producers.wait_for(len(producers.acknowledged) + 5)
        acknowledged = producers.stop()
    assert removed == 60
    assert event_ids(database, live.workspace_id) == set(acknowledged)
    with database.reader.connect() as connection:
        created = connection.execute(sa.select(operations.c.event_id).where(
            operations.c.workspace_id == live.workspace_id, operations.c.kind == "create")).scalars()
        assert set(created) == set(acknowledged)
    seqs = stored_seqs(database, live.workspace_id)
    assert seqs == sorted(set(seqs)) and len(seqs) == len(acknowledged)
    assert mark_of(database, live.workspace_id) == 120


# -- live streams after retention -------------------------------------------------------------


def test_ws_resume_from_a_removed_seq_gets_a_gap_frame_then_every_stored_operation(history):
    live, seqs = history
    with live.subscribe(since=0) as ws:
        frames = frames_until_seq(lambda t: read_frame(ws, t), seqs["latest"])
        later = live.create()
        fresh = frames_until_seq(lambda t: read_frame(ws, t), seqs["latest"] + 1)
    assert frames[0]["type"] == "welcome" and frames[0]["seq"] == seqs["latest"]
    assert frames[1] == {"type": "gap", "reason": "retention", "after_seq": 0, "through_seq": seqs["mark"]}
    assert [f["seq"] for f in frames[2:]] == [2, 4, 5]
    assert [f["type"] for f in fresh] == ["event"] and fresh[0]["event"]["id"] == later


def test_ws_resume_from_inside_the_removed_range_names_where_it_resumes(history):
    live, seqs = history
    with live.subscribe(since=2) as ws:
        frames = frames_until_seq(lambda t: read_frame(ws, t), seqs["latest"])
    assert frames[1] == {"type": "gap", "reason": "retention", "after_seq": 2, "through_seq": seqs["mark"]}
    assert [f["seq"] for f in frames[2:]] == [4, 5]


@pytest.mark.parametrize("since", [3, 4])
def test_ws_resume_from_the_mark_or_above_gets_no_gap_frame(history, since):
    live, seqs = history
    with live.subscribe(since=since) as ws:
        frames = frames_until_seq(lambda t: read_frame(ws, t), seqs["latest"])
    assert [f["type"] for f in frames] == ["welcome"] + ["event"] * (seqs["latest"] - since)
    assert [f["seq"] for f in frames[1:]] == list(range(since + 1, seqs["latest"] + 1))


def test_a_live_subscriber_without_since_gets_no_gap_frame(history):
    live, seqs = history
    with live.subscribe() as ws:
        hello = read_frame(ws)
        event_id = live.create()
        frames = frames_until_seq(lambda t: read_frame(ws, t), seqs["latest"] + 1)
    assert hello["type"] == "welcome"
    assert [f["type"] for f in frames] == ["event"] and frames[0]["event"]["id"] == event_id


@contextmanager
def sse_reader(live: LiveWorkspace, **options: Any) -> Iterator[Any]:
    """Read SSE messages one at a time: {"event": name or None, "id": id or None, "data": {...}}."""
    headers = {"Authorization": f"Bearer {live.key}", **options.pop("headers", {})}
    with httpx.stream("GET", live.base_url + SSE_PATH, params=options, headers=headers, timeout=30) as reply:
        assert reply.status_code == 200
        lines = reply.iter_lines()

        def read(_timeout: float) -> dict[str, Any]:
            message: dict[str, Any] = {"event": None, "id": None}
            for line in lines:
                if line == "":
                    if "data" in message:
                        return {**message["data"], "_sse": message}
                    message = {"event": None, "id": None}
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                message[name] = json.loads(value) if name == "data" else value
            raise AssertionError("the stream ended")

        yield read


@pytest.mark.parametrize("resume", [{"since": "0"}, {"headers": {"Last-Event-ID": "0"}}])
def test_sse_resume_from_a_removed_seq_gets_an_event_gap_then_every_stored_operation(history, resume):
    live, seqs = history
    with sse_reader(live, **resume) as read:
        frames = frames_until_seq(read, seqs["latest"])
    assert frames[0]["type"] == "welcome"
    gap = frames[1]
    assert gap["_sse"]["event"] == "gap" and gap["_sse"]["id"] is None
    assert {k: v for k, v in gap.items() if k != "_sse"} == {
        "type": "gap", "reason": "retention", "after_seq": 0, "through_seq": seqs["mark"]}
    assert [(f["seq"], f["_sse"]["id"]) for f in frames[2:]] == [(2, "2"), (4, "4"), (5, "5")]


def test_sse_resume_above_the_mark_gets_no_gap(history):
    live, seqs = history
    with sse_reader(live, headers={"Last-Event-ID": str(seqs["mark"] + 1)}) as read:
        frames = frames_until_seq(read, seqs["latest"])
    assert [f["type"] for f in frames] == ["welcome", "event"]


def test_the_live_sequencer_steps_over_removed_seqs_instead_of_waiting(live):
    """A sequencer behind the store (it missed operations on the broker) fills from the store;
    seqs retention removed are stepped over, even at the end of the store."""
    database = live.server.database
    kept = live.create()                 # 1
    gone = [closed_event(live), closed_event(live)]   # 2, 3 and 4, 5: the last seqs of the store
    age(database, live.workspace_id, gone)
    retain(live)
    assert stored_seqs(database, live.workspace_id) == [1]
    delivered: list[int] = []

    async def read_after(workspace_id: str, after: int, limit: int):  # type: ignore[no-untyped-def]
        with database.reader.connect() as connection:
            return operations_to_fill(connection, workspace_id, after, limit)

    async def run() -> WorkspaceSequencer:
        sequencer = WorkspaceSequencer(live.workspace_id, 0, lambda op: delivered.append(op["seq"]), read_after)
        sequencer.caught_up_to(5)
        while sequencer._fill_task is not None:
            await asyncio.sleep(0.01)
        return sequencer

    sequencer = asyncio.run(run())
    assert delivered == [1] and sequencer.last == 5 and sequencer.fills == 1
    assert kept


# -- a real server ----------------------------------------------------------------------------


class RetentionServe(ServeProcess):
    def command(self) -> list[str]:
        return super().command() + ["--retention-days", "30"]


@pytest.fixture(params=_backends())
def serve_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from fresh_database_url(request.param, tmp_path_factory)


def test_eventgate_serve_with_retention_days_removes_old_closed_events(serve_database_url):
    channel, key = prepare_database(serve_database_url)
    with ServeProcess(serve_database_url) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        old = _create(client, channel, "old")
        _close(client, channel, old)
        recent = _create(client, channel, "recent")
        _close(client, channel, recent)
    database = open_database(serve_database_url)
    try:
        age(database, "default", [old])
        with RetentionServe(serve_database_url) as server:
            deadline = time.monotonic() + 60
            while old in event_ids(database, "default"):
                assert time.monotonic() < deadline, "eventgate serve --retention-days removed nothing"
                time.sleep(0.1)
            with subscribe(server.base_url, key, since=0) as ws:
                frames = frames_until_seq(lambda t: read_frame(ws, t), 4)
        assert event_ids(database, "default") == {recent}
        assert [f["type"] for f in frames] == ["welcome", "gap", "event", "event"]
        assert frames[1]["through_seq"] == 2 and [f["seq"] for f in frames[2:]] == [3, 4]
        with database.reader.connect() as connection:
            row = connection.execute(sa.select(retention_marks)).one()
        assert (row.workspace_id, row.removed_through_seq) == ("default", 2)
    finally:
        database.dispose()


def _create(client: httpx.Client, channel: str, title: str) -> str:
    reply = client.post("/event/create", json=body_form(channel, title=title))
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]["event_id"]


def _close(client: httpx.Client, channel: str, event_id: str) -> None:
    reply = client.post("/event/close", json=lifecycle_body(channel, event_id))
    assert reply.status_code == 200, reply.text

