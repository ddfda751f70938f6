"""Seed 004 WebSocket subscription: auth before the upgrade, filters, frames, heartbeats."""

from __future__ import annotations

import httpx
import pytest

from tests.live_client import (
    LiveWorkspace,
    close,
    create,
    both_servers,  # noqa: F401  (fixture)
    frames_server_factory,  # noqa: F401  (fixture)
    live,  # noqa: F401  (fixture)
    live_both,  # noqa: F401  (fixture)
    no_event_within,
    read_events,
    read_frame,
    refusal,
    subscribe,
    update,
    welcome,
)


def _seed_004_error(body: dict) -> None:
    assert set(body) == {"code", "message", "stack"}
    assert body["stack"] and set(body["stack"][0]) == {"code", "description", "error", "path"}


def test_subscribe_without_a_key_is_401_before_the_upgrade(live):
    status, body = refusal(live.base_url, None)
    assert status == 401
    _seed_004_error(body)
    assert body["code"] == 401
    assert body["stack"][0]["error"] == "authentication_required"


def test_subscribe_with_an_unknown_key_is_401(live):
    status, body = refusal(live.base_url, "egk_not-a-real-key")
    assert status == 401
    assert body["stack"][0]["error"] == "invalid_api_key"


def test_subscribe_without_the_subscribe_scope_is_403(live):
    status, body = refusal(live.base_url, live.new_key(("events:read",)))
    assert status == 403
    assert body["stack"][0]["error"] == "insufficient_scope"


def test_subscribe_accepts_the_key_as_x_api_key(live):
    with subscribe(live.base_url, None, headers={"X-Api-Key": live.key}) as ws:
        assert welcome(ws)["type"] == "welcome"


def test_subscribe_accepts_the_key_as_token_query_parameter(live):
    with subscribe(live.base_url, None, token=live.key) as ws:
        assert welcome(ws)["type"] == "welcome"


def test_welcome_names_client_user_filter_and_latest_seq(live):
    live.create()
    live.create()
    with live.subscribe(event_types="event_created") as ws:
        frame = welcome(ws)
    assert frame["user_id"] == "watcher"
    assert frame["seq"] == 2
    assert frame["event_types"] == ["event_created"]
    assert len(frame["client_id"]) == 32


def test_each_operation_is_one_event_frame_in_seq_order(live_both):
    live = live_both
    with live.subscribe() as ws:
        start = welcome(ws)["seq"]
        event_id = live.create(title="Front door", severity="high")
        update(live.client, live.channel, event_id, status="still open")
        close(live.client, live.channel, event_id, status="closed")
        frames = read_events(ws, 3)
    assert [f["seq"] for f in frames] == [start + 1, start + 2, start + 3]
    assert [f["event_type"] for f in frames] == ["event_created", "event_updated", "event_closed"]
    assert [f["op"]["kind"] for f in frames] == ["create", "update", "close"]
    assert frames[0]["event"]["title"] == "Front door"
    assert frames[0]["event"]["state"] == "ongoing"
    assert frames[2]["event"]["state"] == "closed"
    assert all(f["event"]["id"] == event_id for f in frames)


def test_event_frame_op_is_the_stored_timeline_entry(live):
    with live.subscribe() as ws:
        welcome(ws)
        event_id = live.create()
        frame = read_events(ws, 1)[0]
    timeline = live.client.get(f"/events/{event_id}/timeline", headers={"Authorization": f"Bearer {live.key}"})
    assert timeline.status_code == 200, timeline.text
    assert frame["op"] == timeline.json()["data"][0]
    assert frame["event"]["seq"] == frame["seq"]


def test_malformed_event_type_code_is_400(live):
    status, body = refusal(live.base_url, live.key, event_types="door-open")
    assert status == 400
    assert body["stack"][0]["path"] == "query.event_types[0]"


def test_event_types_filter_matches_the_system_type(live):
    event_id = None
    with live.subscribe(event_types="event_closed") as ws:
        welcome(ws)
        event_id = live.create()
        update(live.client, live.channel, event_id)
        close(live.client, live.channel, event_id)
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event_type"] == "event_closed"


def test_event_types_filter_matches_the_custom_type(live):
    live.create_typed("door_open")
    with live.subscribe(event_types="DOOR_OPEN") as ws:
        welcome(ws)
        live.create_typed("window_open")
        wanted = live.create_typed("door_open")
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted
    assert frames[0]["event"]["event_type"] == "door_open"


def test_channel_filter_keeps_only_those_channels(live):
    other = live.new_channel()
    with live.subscribe(channel_id=other) as ws:
        welcome(ws)
        live.create()
        wanted = live.create(channel=other)
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted


def test_tags_filter_matches_any_listed_tag(live):
    with live.subscribe(tags="kitchen,garage") as ws:
        welcome(ws)
        live.create(tags=["attic"])
        wanted = live.create(tags=["garage", "door"])
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted


def test_severity_filter_is_a_minimum(live):
    with live.subscribe(severity="high") as ws:
        welcome(ws)
        live.create(severity="normal")
        high = live.create(severity="high")
        critical = live.create(severity="critical")
        frames = read_events(ws, 2)
        assert no_event_within(ws, 0.5)
    assert [f["event"]["id"] for f in frames] == [high, critical]


def test_unknown_severity_is_400(live):
    status, body = refusal(live.base_url, live.key, severity="urgent")
    assert status == 400
    assert body["stack"][0]["path"] == "query.severity"


def test_thing_id_filter(live):
    with live.subscribe(thing_id="sensor-7") as ws:
        welcome(ws)
        live.create(thing_id="sensor-1")
        wanted = live.create(thing_id="sensor-7")
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted


def test_key_restricted_to_channels_only_sees_those_channels(live):
    other = live.new_channel()
    restricted = live.new_key(channels=(other,))
    with live.subscribe(restricted) as ws:
        welcome(ws)
        live.create()
        wanted = live.create(channel=other)
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted


def test_asking_for_a_channel_outside_the_key_restriction_is_403(live):
    other = live.new_channel()
    restricted = live.new_key(channels=(other,))
    status, body = refusal(live.base_url, restricted, channel_id=f"{other},{live.channel}")
    assert status == 403
    assert body["stack"][0]["path"] == "query.channel_id[1]"


def test_filters_combine_with_and(live_both):
    live = live_both
    with live.subscribe(severity="high", tags="door") as ws:
        welcome(ws)
        live.create(severity="high", tags=["window"])
        live.create(severity="low", tags=["door"])
        wanted = live.create(severity="critical", tags=["door"])
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted


def test_subscriber_only_sees_its_own_workspace(live, server):
    elsewhere = server.create_workspace()
    foreign_channel = server.create_channel(workspace_id=elsewhere)
    with live.subscribe() as ws:
        welcome(ws)
        create(live.client, foreign_channel)
        wanted = live.create()
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted


def test_plain_get_without_upgrade_is_426(live):
    reply = httpx.get(live.base_url + "/api/v1/ws/subscribe", headers={"Authorization": f"Bearer {live.key}"})
    assert reply.status_code == 426
    assert reply.json()["stack"][0]["error"] == "upgrade_required"


def test_seed_curl_example_verbatim_is_401(live):
    # curl --location 'http://localhost/api/v1/ws/subscribe' --header 'Authorization ••••••'
    reply = httpx.get(live.base_url + "/api/v1/ws/subscribe", headers={"Authorization": "••••••".encode()})
    assert reply.status_code == 401
    _seed_004_error(reply.json())


@pytest.mark.parametrize("since", ["-1", "abc", "1.5"])
def test_malformed_since_is_400(live, since):
    status, body = refusal(live.base_url, live.key, since=since)
    assert status == 400
    assert body["stack"][0]["path"] == "query.since"


def test_since_after_the_latest_seq_is_400(live):
    live.create()
    status, body = refusal(live.base_url, live.key, since="5")
    assert status == 400
    assert body["stack"][0]["error"] == "since_ahead"


@pytest.mark.parametrize("kind", ["asgi", "frames"])
def test_heartbeat_frames_arrive_on_a_quiet_stream(server_factory, frames_server_factory, kind):
    factory = server_factory if kind == "asgi" else frames_server_factory
    quick = LiveWorkspace(factory(heartbeat_seconds=0.2))
    with quick.subscribe() as ws:
        latest = welcome(ws)["seq"]
        frame = read_frame(ws, timeout=10)
    assert frame["type"] == "heartbeat"
    assert frame["seq"] == latest
