"""Seed 004 `POST /api/v1/ws/unsubscribe`: narrowing a live connection without closing it."""

from __future__ import annotations

import time

from tests.live_client import (
    LiveWorkspace,
    both_servers,  # noqa: F401  (fixture)
    frames_server_factory,  # noqa: F401  (fixture)
    live,  # noqa: F401  (fixture)
    live_both,  # noqa: F401  (fixture)
    no_event_within,
    read_events,
    update,
    welcome,
)

UNSUBSCRIBE = "/api/v1/ws/unsubscribe"


def _unsubscribe(live: LiveWorkspace, body: dict, key: str | None = None):  # type: ignore[no-untyped-def]
    return live.client.post(UNSUBSCRIBE, json=body, headers={"Authorization": f"Bearer {key or live.key}"})


def test_unsubscribe_narrows_a_list_subscription_without_closing_it(live_both):
    live = live_both
    with live.subscribe(event_types="event_created,event_updated") as ws:
        client_id = welcome(ws)["client_id"]
        reply = _unsubscribe(live, {"client_id": client_id, "event_types": ["event_updated"]})
        assert reply.status_code == 200, reply.text
        event_id = live.create()
        update(live.client, live.channel, event_id)
        later = live.create()
        frames = read_events(ws, 2)
        assert no_event_within(ws, 0.5)
    assert [f["event_type"] for f in frames] == ["event_created", "event_created"]
    assert frames[1]["event"]["id"] == later


def test_unsubscribe_from_everything_becomes_everything_except(live):
    live.create_typed("door_open")
    with live.subscribe() as ws:
        client_id = welcome(ws)["client_id"]
        reply = _unsubscribe(live, {"client_id": client_id, "event_types": ["door_open"], "user_id": "watcher"})
        assert reply.status_code == 200, reply.text
        live.create_typed("door_open")
        wanted = live.create_typed("window_open")
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted
    assert reply.json()["data"]["excluded_event_types"] == ["door_open"]
    assert reply.json()["data"]["everything"] is True


def test_unsubscribe_reply_lists_the_remaining_types(live):
    with live.subscribe(event_types="event_created,event_closed") as ws:
        client_id = welcome(ws)["client_id"]
        reply = _unsubscribe(live, {"client_id": client_id, "event_types": ["EVENT_CLOSED"]})
    assert reply.status_code == 200
    assert reply.json()["data"]["event_types"] == ["event_created"]


def test_unsubscribe_of_another_users_client_is_403(live):
    with live.subscribe() as ws:
        client_id = welcome(ws)["client_id"]
        reply = _unsubscribe(live, {"client_id": client_id, "event_types": ["event_created"]},
                             key=live.new_key(user="someone-else"))
    assert reply.status_code == 403
    body = reply.json()
    assert body["code"] == 403
    assert body["stack"][0]["path"] == "body.client_id"


def test_unsubscribe_naming_another_user_id_is_403(live):
    with live.subscribe() as ws:
        client_id = welcome(ws)["client_id"]
        reply = _unsubscribe(live, {"client_id": client_id, "event_types": ["event_created"],
                                    "user_id": "someone-else"})
    assert reply.status_code == 403
    assert reply.json()["stack"][0]["path"] == "body.user_id"


def test_unsubscribe_of_an_unknown_client_is_404(live):
    reply = _unsubscribe(live, {"client_id": "0" * 32, "event_types": ["event_created"]})
    assert reply.status_code == 404
    assert reply.json()["stack"][0]["error"] == "client_not_found"


def test_unsubscribe_of_a_closed_connection_is_404(live_both):
    live = live_both
    with live.subscribe() as ws:
        client_id = welcome(ws)["client_id"]
    deadline = time.monotonic() + 20  # the server notices the close asynchronously
    while (reply := _unsubscribe(live, {"client_id": client_id, "event_types": ["event_created"]})).status_code \
            == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reply.status_code == 404


def test_unsubscribe_of_a_client_in_another_workspace_is_404(live, server):
    other = LiveWorkspace(server)  # same user name, another workspace
    with other.subscribe() as ws:
        client_id = welcome(ws)["client_id"]
        reply = _unsubscribe(live, {"client_id": client_id, "event_types": ["event_created"]})
    assert reply.status_code == 404


def test_unsubscribe_with_an_empty_list_is_400(live):
    reply = _unsubscribe(live, {"client_id": "x", "event_types": []})
    assert reply.status_code == 400
    assert reply.json()["stack"][0]["path"] == "body.event_types"


def test_unsubscribe_with_an_unknown_field_is_400(live):
    reply = _unsubscribe(live, {"client_id": "x", "event_types": ["event_created"], "extra": 1})
    assert reply.status_code == 400
    assert reply.json()["stack"][0]["path"] == "body.extra"


def test_unsubscribe_with_a_wrongly_typed_field_is_400(live):
    reply = _unsubscribe(live, {"client_id": 7, "event_types": ["event_created"]})
    assert reply.status_code == 400
    assert reply.json()["stack"][0]["path"] == "body.client_id"


def test_unsubscribe_without_a_key_is_401(live):
    reply = live.client.post(UNSUBSCRIBE, json={"client_id": "x", "event_types": ["event_created"]})
    assert reply.status_code == 401
    assert reply.json()["stack"][0]["path"] == "header.authorization"


def test_unsubscribe_needs_a_json_body(live):
    reply = live.client.post(UNSUBSCRIBE, content=b"client_id=x",
                             headers={"Authorization": f"Bearer {live.key}",
                                      "Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 415


def test_seed_curl_example_verbatim_gets_a_seed_004_error(live):
    reply = live.client.post(UNSUBSCRIBE, headers={"Authorization": "••••••".encode(),
                                                   "Content-Type": "application/json"},
                             content=b'{\n"client_id": "string",\n"event_types": "[]string",\n"user_id": "string"\n}')
    assert reply.status_code == 401
    assert set(reply.json()) == {"code", "message", "stack"}
