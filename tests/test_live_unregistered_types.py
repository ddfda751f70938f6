"""Live subscribe (WebSocket and SSE) and unsubscribe with an event-type code the workspace has
not registered yet: accepted, and matching once events of that code arrive (which registers
it) — unless the server runs with strict event types, where it is 400 `unknown_event_type`."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.live_client import (
    SSE_PATH,
    LiveWorkspace,
    live,  # noqa: F401  (fixture)
    no_event_within,
    read_events,
    refusal,
    sse_events,
    welcome,
)

UNSUBSCRIBE = "/api/v1/ws/unsubscribe"


@pytest.fixture(scope="module")
def strict_server(server_factory: Any) -> Any:
    return server_factory(strict_event_types=True)


@pytest.fixture
def strict(strict_server: Any) -> LiveWorkspace:
    return LiveWorkspace(strict_server)


def fresh_code() -> str:
    return f"t{secrets.token_hex(4)}_door_open"


def registered_codes(live: LiveWorkspace) -> list[str]:
    reply = live.client.get("/api/b/v2/events", params={"per_page": 100},
                            headers={"Authorization": f"Bearer {live.key}"})
    assert reply.status_code == 200, reply.text
    return [t["code"] for t in reply.json()["data"]]


# -- WebSocket -----------------------------------------------------------------------------------


def test_ws_subscribe_to_an_unregistered_code_is_accepted_and_matches_its_first_events(live):
    code = fresh_code()
    with live.subscribe(event_types=code) as ws:
        hello = welcome(ws)
        assert hello["event_types"] == [code]
        assert code not in registered_codes(live)
        live.create_typed(fresh_code())  # another type: not delivered
        live.create()  # no type: not delivered
        wanted = live.create_typed(code)  # registers the code
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted
    assert frames[0]["event"]["event_type"] == code
    assert code in registered_codes(live)


def test_ws_an_unregistered_code_matches_whatever_case_the_producer_uses(live):
    code = fresh_code()
    with live.subscribe(event_types=code.upper()) as ws:
        welcome(ws)
        wanted = live.create_typed(code)
        frames = read_events(ws, 1)
    assert frames[0]["event"]["id"] == wanted


def test_ws_unregistered_and_registered_codes_together(live):
    known, unknown = fresh_code(), fresh_code()
    live.create_typed(known)
    with live.subscribe(event_types=f"{known},{unknown},{unknown.upper()}") as ws:
        assert welcome(ws)["event_types"] == [known, unknown]
        first = live.create_typed(unknown)
        second = live.create_typed(known)
        frames = read_events(ws, 2)
    assert [f["event"]["id"] for f in frames] == [first, second]


def test_ws_a_malformed_code_is_still_400(live):
    status, body = refusal(live.base_url, live.key, event_types="event_created,door-open")
    assert status == 400
    assert body["stack"][0]["error"] == "invalid_event_type"
    assert body["stack"][0]["path"] == "query.event_types[1]"


def test_ws_strict_types_refuse_an_unregistered_code_naming_the_item(strict):
    status, body = refusal(strict.base_url, strict.key, event_types=f"event_created,{fresh_code()}")
    assert status == 400
    assert set(body) == {"code", "message", "stack"}
    assert body["stack"][0]["error"] == "unknown_event_type"
    assert body["stack"][0]["path"] == "query.event_types[1]"


def test_ws_strict_types_accept_a_registered_code(strict):
    code = fresh_code()
    reply = strict.client.post("/api/b/v2/events", json={"name": code, "code": code},
                               headers={"Authorization": f"Bearer {strict.new_key(('types:write',))}"})
    assert reply.status_code == 201, reply.text
    with strict.subscribe(event_types=code) as ws:
        assert welcome(ws)["event_types"] == [code]


def test_plain_get_of_the_ws_route_checks_the_same_way(live, strict):
    reply = httpx.get(live.base_url + "/api/v1/ws/subscribe", params={"event_types": fresh_code()},
                      headers={"Authorization": f"Bearer {live.key}"})
    assert reply.status_code == 426
    reply = httpx.get(strict.base_url + "/api/v1/ws/subscribe", params={"event_types": fresh_code()},
                      headers={"Authorization": f"Bearer {strict.key}"})
    assert reply.status_code == 400
    assert reply.json()["stack"][0]["error"] == "unknown_event_type"


# -- SSE -----------------------------------------------------------------------------------------


def test_sse_subscribe_to_an_unregistered_code_is_accepted_and_matches_its_first_events(live):
    code = fresh_code()
    with httpx.stream("GET", live.base_url + SSE_PATH, params={"event_types": code},
                      headers={"Authorization": f"Bearer {live.key}"}, timeout=30) as reply:
        assert reply.status_code == 200
        lines = reply.iter_lines()
        hello = sse_events(lines, 1)[0]
        assert hello["data"]["type"] == "welcome"
        assert hello["data"]["event_types"] == [code]
        live.create_typed(fresh_code())  # another type: not delivered
        wanted = live.create_typed(code)
        message = sse_events(lines, 1, skip=("heartbeat",))[0]
    assert message["data"]["type"] == "event"
    assert message["data"]["event"]["id"] == wanted
    assert message["data"]["event"]["event_type"] == code


def test_sse_strict_types_refuse_an_unregistered_code(strict):
    reply = httpx.get(strict.base_url + SSE_PATH, params={"event_types": fresh_code()},
                      headers={"Authorization": f"Bearer {strict.key}"})
    assert reply.status_code == 400
    assert reply.json()["stack"][0]["error"] == "unknown_event_type"
    assert reply.json()["stack"][0]["path"] == "query.event_types[0]"


# -- unsubscribe ---------------------------------------------------------------------------------


def test_unsubscribe_from_an_unregistered_code_is_accepted(live):
    keep, drop = fresh_code(), fresh_code()
    with live.subscribe(event_types=f"{keep},{drop}") as ws:
        client_id = welcome(ws)["client_id"]
        reply = live.client.post(UNSUBSCRIBE, json={"client_id": client_id, "event_types": [drop]},
                                 headers={"Authorization": f"Bearer {live.key}"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["data"]["event_types"] == [keep]
        live.create_typed(drop)  # no longer wanted
        wanted = live.create_typed(keep)
        frames = read_events(ws, 1)
        assert no_event_within(ws, 0.5)
    assert frames[0]["event"]["id"] == wanted


def test_unsubscribe_from_an_unregistered_code_under_strict_types_is_400(strict):
    with strict.subscribe() as ws:
        client_id = welcome(ws)["client_id"]
        reply = strict.client.post(UNSUBSCRIBE,
                                   json={"client_id": client_id, "event_types": ["event_created", fresh_code()]},
                                   headers={"Authorization": f"Bearer {strict.key}"})
    assert reply.status_code == 400
    assert reply.json()["stack"][0]["error"] == "unknown_event_type"
    assert reply.json()["stack"][0]["path"] == "body.event_types[1]"
