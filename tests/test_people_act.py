"""People act on events (SPEC §11): acknowledge, close and notes with an API key, each an
operation on the timeline that says who acted."""

from __future__ import annotations

import pytest

from tests.live_client import read_events, subscribe, update, welcome
from tests.webhook_receiver import start_receiver


@pytest.fixture
def event_id(api):
    reply = api.post("/events", json={"title": "Disk full", "subtitle": "on nas", "topics": ["storage"],
                                      "severity": "high"})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def act(client, event_id, action, status=200, **kwargs):
    reply = client.post(f"/events/{event_id}/{action}", **kwargs)
    assert reply.status_code == status, reply.text
    return reply.json()


def timeline(client, event_id):
    return client.get(f"/events/{event_id}/timeline").json()["data"]


def test_acknowledge_says_who_and_when_and_is_on_the_timeline(api, event_id):
    event = act(api, event_id, "acknowledge")["data"]
    assert event["acknowledged_by"] == "tester" and event["acknowledged_at"] is not None
    assert event["state"] == "ongoing"
    assert api.get(f"/events/{event_id}").json()["data"]["acknowledged_by"] == "tester"
    entry = timeline(api, event_id)[-1]
    assert entry["kind"] == "update" and entry["fields"] == {"acknowledged": True, "by": "tester"}


def test_the_first_acknowledgement_is_kept(server, api, workspace, event_id):
    first = act(api, event_id, "acknowledge")["data"]
    other = server.client(headers={"Authorization": f"Bearer {server.create_key(workspace_id=workspace, user='bob')}"})
    again = act(other, event_id, "acknowledge")["data"]
    assert again["acknowledged_by"] == "tester" and again["acknowledged_at"] == first["acknowledged_at"]
    assert [e["fields"].get("by") for e in timeline(api, event_id)][-2:] == ["tester", "bob"]


def test_a_note_is_on_the_timeline_and_changes_nothing_else(api, event_id):
    before = api.get(f"/events/{event_id}").json()["data"]
    after = act(api, event_id, "notes", json={"text": "looking at it\nfrom the rack"})["data"]
    assert {k: v for k, v in after.items() if k not in ("updated_at", "timestamp", "seq")} == \
        {k: v for k, v in before.items() if k not in ("updated_at", "timestamp", "seq")}
    assert timeline(api, event_id)[-1]["fields"] == {"note": "looking at it\nfrom the rack", "by": "tester"}


def test_close_resolves_the_event(api, event_id):
    event = act(api, event_id, "close")["data"]
    assert event["state"] == "closed" and event["status"] == "resolved" and event["ended_at"] is not None
    assert timeline(api, event_id)[-1]["kind"] == "close"
    assert act(api, event_id, "close", status=409)["error_code"] == "event_closed"
    assert act(api, event_id, "acknowledge", status=409)["error_code"] == "event_closed"


def test_a_producer_update_keeps_the_acknowledgement_unless_it_raises_the_severity(server, api, workspace):
    channel = server.create_channel(workspace_id=workspace)
    client = server.client()
    from tests.live_client import create

    event_id = create(client, channel, severity="normal")
    act(api, event_id, "acknowledge")
    update(client, channel, event_id, message="still there", severity="normal")
    assert api.get(f"/events/{event_id}").json()["data"]["acknowledged_by"] == "tester"
    update(client, channel, event_id, message="worse", severity="critical")
    event = api.get(f"/events/{event_id}").json()["data"]
    assert event["acknowledged_by"] is None and event["acknowledged_at"] is None


@pytest.mark.parametrize("action, body, code", [
    ("notes", {}, "invalid_json"),
    ("notes", {"text": "  "}, "text_required"),
    ("notes", {"text": "x" * 4097}, "text_too_long"),
    ("notes", {"text": "a", "by": "me"}, None),
    ("notes", {"text": 5}, None),
    ("acknowledge", {"by": "me"}, None),
    ("close", [], None),
])
def test_bad_bodies_are_400(api, event_id, action, body, code):
    refused = act(api, event_id, action, status=400, json=body)
    if code == "invalid_json":
        assert refused["error_code"]
    elif code is not None:
        assert refused["error_code"] == code


def test_who_may_act(server, api, workspace, event_id):
    reader = server.client(headers={"Authorization": f"Bearer {server.create_key(('events:read',), workspace_id=workspace)}"})
    assert act(reader, event_id, "acknowledge", status=403)["error_code"] == "insufficient_scope"
    other_channel = server.create_channel(workspace_id=workspace)
    restricted = server.client(headers={"Authorization": "Bearer " + server.create_key(
        workspace_id=workspace, channels=(other_channel,))})
    assert act(restricted, event_id, "acknowledge", status=403)["error_code"] == "channel_forbidden"
    assert act(api, "no-such-event", "acknowledge", status=404)["error_code"] == "event_not_found"
    stranger = server.client(headers={"Authorization": f"Bearer {server.create_key(workspace_id=server.create_workspace())}"})
    assert act(stranger, event_id, "close", status=404)["error_code"] == "event_not_found"


def test_an_idempotency_key_makes_a_retry_a_replay(api, event_id):
    headers = {"Idempotency-Key": "ack-1"}
    act(api, event_id, "notes", json={"text": "once"}, headers=headers)
    act(api, event_id, "notes", json={"text": "once"}, headers=headers)
    assert [e["fields"].get("note") for e in timeline(api, event_id)].count("once") == 1
    assert act(api, event_id, "notes", status=409, json={"text": "other"}, headers=headers)["error_code"] == \
        "idempotency_conflict"


def test_actions_reach_streams_and_destinations(server, api, workspace, event_id):
    from eventgate.domain.destinations import parse_filter
    from eventgate.store.destinations import create_destination

    receiver = start_receiver()
    try:
        with server.database.writer.begin() as connection:
            create_destination(connection, workspace, name="hook", kind="webhook", url=receiver.url,
                               filter=parse_filter(None), secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        key = server.create_key(("subscribe",), workspace_id=workspace)
        with subscribe(server.base_url, key) as ws:
            welcome(ws)
            act(api, event_id, "acknowledge")
            act(api, event_id, "close")
            frames = read_events(ws, 2)
        assert frames[0]["event"]["acknowledged_by"] == "tester" and frames[1]["op"]["kind"] == "close"
        types = [r.json()["type"] for r in receiver.wait_for(2)]
        assert types == ["event.acknowledged", "event.closed"]
    finally:
        receiver.stop()
