"""Exact resume: `since=<seq>` replays what is stored, then continues live, with no gap and no
duplicate, even while producers keep writing (through one server or several on one database)."""

from __future__ import annotations

import contextlib

import pytest

from tests.live_client import (
    LiveWorkspace,
    Producers,
    create,
    both_servers,  # noqa: F401  (fixture)
    frames_server_factory,  # noqa: F401  (fixture)
    live,  # noqa: F401  (fixture)
    live_both,  # noqa: F401  (fixture)
    read_events,
    read_until_seq,
    subscribe,
    welcome,
)


def test_since_replays_stored_operations_then_continues_live(live_both):
    live = live_both
    ids = [live.create() for _ in range(5)]
    with live.subscribe(since=2) as ws:
        assert welcome(ws)["seq"] == 5
        replayed = read_events(ws, 3)
        later = live.create()
        fresh = read_events(ws, 1)
    assert [f["seq"] for f in replayed] == [3, 4, 5]
    assert [f["event"]["id"] for f in replayed] == ids[2:]
    assert fresh[0]["seq"] == 6 and fresh[0]["event"]["id"] == later


def test_since_zero_replays_the_whole_history(live):
    for _ in range(3):
        live.create()
    with live.subscribe(since=0) as ws:
        welcome(ws)
        frames = read_events(ws, 3)
    assert [f["seq"] for f in frames] == [1, 2, 3]


def test_since_replays_only_operations_matching_the_filter(live):
    live.create(severity="low")
    wanted = live.create(severity="critical")
    live.create(severity="low")
    with live.subscribe(since=0, severity="high") as ws:
        welcome(ws)
        frames = read_events(ws, 1)
        last = live.create(severity="high")
        frames += read_events(ws, 1)
    assert [f["event"]["id"] for f in frames] == [wanted, last]


def test_replayed_frame_equals_the_live_frame(live_both):
    live = live_both
    with live.subscribe() as ws:
        welcome(ws)
        live.create(title="same bytes", tags=["a"])
        live_frame = read_events(ws, 1)[0]
    with live.subscribe(since=live_frame["seq"] - 1) as ws:
        welcome(ws)
        replayed = read_events(ws, 1)[0]
    assert replayed == live_frame


def _assert_exact(frames: list[dict], since: int, last: int) -> None:
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(since + 1, last + 1)), f"gap or duplicate after {since}: {seqs[:10]}…"


def test_resume_has_no_gap_and_no_duplicate_while_producers_write(live_both):
    live = live_both
    with contextlib.ExitStack() as stack:
        opened: list[tuple[int, object]] = []
        with Producers(live.base_url, live.channel, threads=3) as producers:
            producers.wait_for(20)
            for _ in range(4):
                since = max(0, len(producers.acknowledged) - 15)
                ws = stack.enter_context(live.subscribe(since=since))
                welcome(ws)
                opened.append((since, ws))
                producers.wait_for(len(producers.acknowledged) + 10)
            acknowledged = producers.stop()
        last = len(acknowledged)  # a fresh workspace: one seq per acknowledged create
        for since, ws in opened:
            _assert_exact(read_until_seq(ws, last), since, last)


@pytest.fixture(scope="module")
def twin_servers(server_factory):  # type: ignore[no-untyped-def]
    """Two servers (two hubs, two writers) on one database, no broker between them."""
    return server_factory(), server_factory()


def test_resume_is_exact_with_producers_on_two_servers_sharing_a_database(twin_servers):
    first, second = twin_servers
    workspace = LiveWorkspace(first)
    with Producers(first.base_url, workspace.channel, threads=2) as on_first, \
            Producers(second.base_url, workspace.channel, threads=2) as on_second:
        on_first.wait_for(10)
        with subscribe(first.base_url, workspace.key, since=3) as ws_first, \
                subscribe(second.base_url, workspace.key, since=5) as ws_second:
            welcome(ws_first)
            welcome(ws_second)
            on_second.wait_for(len(on_second.acknowledged) + 20)
            total = len(on_first.stop()) + len(on_second.stop())
            _assert_exact(read_until_seq(ws_first, total), 3, total)
            _assert_exact(read_until_seq(ws_second, total), 5, total)


def test_live_subscriber_on_one_server_sees_writes_through_another(twin_servers):
    first, second = twin_servers
    workspace = LiveWorkspace(first)
    with subscribe(first.base_url, workspace.key) as ws:
        start = welcome(ws)["seq"]
        event_id = create(second.client(), workspace.channel)
        frames = read_events(ws, 1)
    assert frames[0]["seq"] == start + 1
    assert frames[0]["event"]["id"] == event_id
