"""Seed 000: POST /v1/channel/{channel_id}/event/{create,update,close} (SPEC §3)."""

from __future__ import annotations

import pytest

from eventgate.ids import new_channel_id
from tests.conftest import PASSWORD
from tests.helpers import error_code


def path(channel: str, kind: str) -> str:
    return f"/v1/channel/{channel}/event/{kind}"


def read_event(server, client, event_id):
    key = server.create_key(("events:read",))
    return client.get(f"/events/{event_id}", headers={"X-Api-Key": key}).json()["data"]


def test_create_returns_exactly_the_event_id(client, channel):
    reply = client.post(path(channel, "create"), json={"password": PASSWORD, "event_type": "door_open"})
    assert reply.status_code == 200
    body = reply.json()
    assert list(body) == ["event_id"]
    assert body["event_id"]


def test_create_applies_defaults(server, client, channel):
    event_id = client.post(path(channel, "create"),
                           json={"password": PASSWORD, "event_type": "door_open"}).json()["event_id"]
    event = read_event(server, client, event_id)
    assert event["title"] == "door_open"
    assert event["message"] == "door_open"
    assert event["status"] == "ongoing"
    assert event["severity"] == "normal"
    assert event["event_type"] == "door_open"
    assert event["started_at"] is not None


def test_create_requires_event_type(client, channel):
    reply = client.post(path(channel, "create"), json={"password": PASSWORD, "severity": "high"})
    assert reply.status_code == 400
    assert error_code(reply) == "event_type_required"


@pytest.mark.parametrize("code", ["door-open", "door open", "türe", "x" * 65, ""])
def test_bad_event_type_code_is_400(client, channel, code):
    reply = client.post(path(channel, "create"), json={"password": PASSWORD, "event_type": code})
    assert reply.status_code == 400
    assert error_code(reply) in ("event_type_invalid", "event_type_required")


def test_create_with_chosen_event_id(client, channel):
    reply = client.post(path(channel, "create"),
                        json={"password": PASSWORD, "event_type": "door_open", "event_id": "door-42"})
    assert reply.json() == {"event_id": "door-42"}


def test_create_with_existing_event_id_is_409(client, channel):
    body = {"password": PASSWORD, "event_type": "door_open", "event_id": "door-43"}
    assert client.post(path(channel, "create"), json=body).status_code == 200
    reply = client.post(path(channel, "create"), json=body)
    assert reply.status_code == 409
    assert error_code(reply) == "event_exists"


def test_invalid_chosen_event_id_is_400(client, channel):
    reply = client.post(path(channel, "create"),
                        json={"password": PASSWORD, "event_type": "door_open", "event_id": "a" * 65})
    assert error_code(reply) == "event_id_invalid"


def test_update_merges_attrs(server, client, channel):
    event_id = client.post(path(channel, "create"), json={
        "password": PASSWORD, "event_type": "door_open", "attrs": {"battery": 80, "door": "front"}}).json()["event_id"]
    reply = client.post(path(channel, "update"),
                        json={"password": PASSWORD, "event_id": event_id, "attrs": {"still_open": True, "battery": None}})
    assert reply.json() == {"event_id": event_id}
    event = read_event(server, client, event_id)
    assert event["attrs"] == {"door": "front", "still_open": True}
    assert event["state"] == "ongoing"


def test_close_takes_ended_at(server, client, channel):
    event_id = client.post(path(channel, "create"), json={
        "password": PASSWORD, "event_type": "door_open", "started_at": 1672531200}).json()["event_id"]
    reply = client.post(path(channel, "close"), json={"password": PASSWORD, "event_id": event_id,
                                                      "ended_at": 1672534800})
    assert reply.json() == {"event_id": event_id}
    event = read_event(server, client, event_id)
    assert event["state"] == "closed"
    assert event["status"] == "closed"
    assert event["started_at"] == 1672531200
    assert event["ended_at"] == 1672534800


def test_close_of_closed_event_is_409(client, channel):
    event_id = client.post(path(channel, "create"),
                           json={"password": PASSWORD, "event_type": "door_open"}).json()["event_id"]
    client.post(path(channel, "close"), json={"password": PASSWORD, "event_id": event_id})
    reply = client.post(path(channel, "close"), json={"password": PASSWORD, "event_id": event_id})
    assert reply.status_code == 409
    assert reply.json() == {"success": False, "data": None, "error": reply.json()["error"],
                            "error_code": "event_closed"}


def test_update_requires_event_id(client, channel):
    reply = client.post(path(channel, "update"), json={"password": PASSWORD, "attrs": {"x": 1}})
    assert error_code(reply) == "event_id_required"


def test_unknown_field_is_rejected(client, channel):
    reply = client.post(path(channel, "create"), json={"password": PASSWORD, "event_type": "x", "colour": "red"})
    assert reply.status_code == 400
    assert error_code(reply) == "unknown_field"


def test_channel_id_in_body_is_an_unknown_field(client, channel):
    reply = client.post(path(channel, "create"),
                        json={"password": PASSWORD, "event_type": "x", "channel_id": channel})
    assert error_code(reply) == "unknown_field"


def test_body_and_path_forms_share_one_store(server, client, channel):
    event_id = client.post(path(channel, "create"),
                           json={"password": PASSWORD, "event_type": "door_open"}).json()["event_id"]
    reply = client.post("/event/update", json={
        "channel_id": channel, "password": PASSWORD, "event_id": event_id, "status": "ajar",
        "message": "still open", "severity": "low", "event_time": 1713750000})
    assert reply.status_code == 200
    assert read_event(server, client, event_id)["status"] == "ajar"


def test_unknown_channel_is_404(client):
    reply = client.post(path(new_channel_id(), "create"),
                        json={"password": PASSWORD, "event_type": "door_open"})
    assert reply.status_code == 404
    assert error_code(reply) == "channel_not_found"


def test_malformed_channel_id_is_404(client):
    reply = client.post(path("ABC123XYZ", "create"), json={"password": PASSWORD, "event_type": "door_open"})
    assert reply.status_code == 404
    assert error_code(reply) == "channel_not_found"
