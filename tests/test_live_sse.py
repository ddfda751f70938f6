"""`GET /api/v1/sse/subscribe`: the live stream as Server-Sent Events, resumable by Last-Event-ID."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import httpx

from tests.live_client import SSE_PATH, live, sse_events  # noqa: F401  (fixture)


@contextlib.contextmanager
def sse(live, key: str | None = "default", headers: dict[str, str] | None = None,  # type: ignore[no-untyped-def]
        **params: Any) -> Iterator[tuple[httpx.Response, Iterator[str]]]:
    all_headers = dict(headers or {})
    if key is not None:
        all_headers["Authorization"] = f"Bearer {live.key if key == 'default' else key}"
    with httpx.stream("GET", live.base_url + SSE_PATH, params=params, headers=all_headers, timeout=30) as reply:
        yield reply, reply.iter_lines()


def test_sse_streams_a_welcome_then_events_with_their_seq_as_id(live):
    with sse(live) as (reply, lines):
        assert reply.headers["content-type"].startswith("text/event-stream")
        hello = sse_events(lines, 1)[0]
        event_id = live.create()
        message = sse_events(lines, 1)[0]
    assert hello["data"]["type"] == "welcome"
    assert message["data"]["type"] == "event"
    assert message["id"] == str(message["data"]["seq"])
    assert message["data"]["event"]["id"] == event_id


def test_sse_welcome_id_is_where_the_stream_starts(live):
    live.create()
    live.create()
    with sse(live) as (_, lines):
        hello = sse_events(lines, 1)[0]
    assert hello["id"] == "2"


def test_sse_resumes_through_last_event_id(live):
    ids = [live.create() for _ in range(3)]
    with sse(live, headers={"Last-Event-ID": "1"}) as (_, lines):
        messages = sse_events(lines, 3)[1:]
    assert [m["data"]["event"]["id"] for m in messages] == ids[1:]
    assert [m["id"] for m in messages] == ["2", "3"]


def test_sse_last_event_id_wins_over_since(live):
    for _ in range(3):
        live.create()
    with sse(live, headers={"Last-Event-ID": "2"}, since="0") as (_, lines):
        messages = sse_events(lines, 2)[1:]
    assert messages[0]["id"] == "3"


def test_sse_resumes_with_since(live):
    for _ in range(3):
        live.create()
    with sse(live, since="1") as (_, lines):
        messages = sse_events(lines, 3)[1:]
    assert [m["id"] for m in messages] == ["2", "3"]


def test_sse_without_a_key_is_401_in_the_seed_004_shape(live):
    reply = httpx.get(live.base_url + SSE_PATH)
    assert reply.status_code == 401
    assert set(reply.json()) == {"code", "message", "stack"}


def test_sse_accepts_the_token_query_parameter(live):
    with sse(live, key=None, token=live.key) as (reply, lines):
        assert reply.status_code == 200
        assert sse_events(lines, 1)[0]["data"]["type"] == "welcome"


def test_sse_applies_the_filters(live):
    with sse(live, severity="critical") as (_, lines):
        sse_events(lines, 1)
        live.create(severity="low")
        wanted = live.create(severity="critical")
        message = sse_events(lines, 1)[0]
    assert message["data"]["event"]["id"] == wanted


def test_sse_malformed_last_event_id_is_400(live):
    reply = httpx.get(live.base_url + SSE_PATH, headers={"Authorization": f"Bearer {live.key}",
                                                         "Last-Event-ID": "abc"})
    assert reply.status_code == 400
    assert reply.json()["stack"][0]["path"] == "header.last-event-id"
