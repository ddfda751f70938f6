"""Seed 001: POST /event/{create,update,close} — every field rule of SPEC §2."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.helpers import body_form, create_event, error_code, lifecycle_body


def test_create_returns_the_envelope_with_generated_ids(client, channel):
    reply = client.post("/event/create", json=body_form(channel))
    assert reply.status_code == 200
    payload = reply.json()
    assert payload["success"] is True and payload["error"] is None and payload["error_code"] is None
    data = payload["data"]
    assert data["channel_id"] == channel
    assert data["accepted"] is True
    assert data["thing_id"] is None
    assert data["event_id"] and data["op_id"]


def test_create_echoes_given_op_id_and_thing_id(client, channel):
    reply = client.post("/event/create", json=body_form(channel, op_id="op-1:a_b", thing_id="sensor-7"))
    data = reply.json()["data"]
    assert data["op_id"] == "op-1:a_b"
    assert data["thing_id"] == "sensor-7"


def test_created_event_holds_every_field(client, server, channel):
    event_id = create_event(client, channel, description="details", tags=[" db ", "replica", "db"],
                            images=["https://example.com/a.png"], attrs={"lag": 31, "host": {"name": "db2"}},
                            metadata={"region": "eu", "shard": 3, "primary": False}, event_time=1713750000,
                            started_at=1713749000)
    key = server.create_key(("events:read",))
    event = client.get(f"/events/{event_id}", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert event["title"] == "Database lag"
    assert event["message"] == "Replica delay > 30s"
    assert event["description"] == "details"
    assert event["status"] == "ongoing"
    assert event["state"] == "ongoing"
    assert event["severity"] == "high"
    assert event["tags"] == ["db", "replica"]
    assert event["images"] == ["https://example.com/a.png"]
    assert event["attrs"] == {"lag": 31, "host": {"name": "db2"}}
    assert event["metadata"] == {"region": "eu", "shard": 3, "primary": False}
    assert event["started_at"] == 1713749000
    assert event["channel_id"] == channel


def test_started_at_defaults_to_event_time(client, server, channel):
    event_id = create_event(client, channel, event_time=1713750000)
    key = server.create_key(("events:read",))
    event = client.get(f"/events/{event_id}", headers={"X-Api-Key": key}).json()["data"]
    assert event["started_at"] == 1713750000


def test_event_time_in_milliseconds_is_understood(client, server, channel):
    event_id = create_event(client, channel, event_time=1713750000123, started_at=...)
    key = server.create_key(("events:read",))
    event = client.get(f"/events/{event_id}", headers={"X-Api-Key": key}).json()["data"]
    assert event["started_at"] == 1713750000.123


def test_event_time_as_numeric_string_is_accepted(client, channel):
    assert client.post("/event/create", json=body_form(channel, event_time="1713750000")).status_code == 200


@pytest.mark.parametrize("value", ["soon", True, -5, [], {}])
def test_bad_event_time_is_400(client, channel, value):
    reply = client.post("/event/create", json=body_form(channel, event_time=value))
    assert reply.status_code == 400
    assert error_code(reply) == "event_time_invalid"


@pytest.mark.parametrize("field", ["title", "status", "message", "severity", "event_time"])
def test_create_requires_business_field(client, channel, field):
    reply = client.post("/event/create", json=body_form(channel, **{field: ...}))
    assert reply.status_code == 400
    assert error_code(reply) == f"{field}_required"


@pytest.mark.parametrize("field", ["status", "message", "severity", "event_time"])
def test_update_requires_business_field(client, channel, field):
    event_id = create_event(client, channel)
    reply = client.post("/event/update", json=lifecycle_body(channel, event_id, **{field: ...}))
    assert reply.status_code == 400
    assert error_code(reply) == f"{field}_required"


@pytest.mark.parametrize("field", ["status", "message", "severity", "event_time"])
def test_close_requires_business_field(client, channel, field):
    event_id = create_event(client, channel)
    reply = client.post("/event/close", json=lifecycle_body(channel, event_id, **{field: ...}))
    assert reply.status_code == 400
    assert error_code(reply) == f"{field}_required"


def test_event_id_on_create_is_forbidden(client, channel):
    reply = client.post("/event/create", json=body_form(channel, event_id="mine"))
    assert reply.status_code == 400
    assert error_code(reply) == "event_id_forbidden_on_create"


@pytest.mark.parametrize("route", ["update", "close"])
def test_event_id_is_required_on_update_and_close(client, channel, route):
    reply = client.post(f"/event/{route}", json=lifecycle_body(channel, ...))
    assert reply.status_code == 400
    assert error_code(reply) == "event_id_required"


@pytest.mark.parametrize("route", ["update", "close"])
def test_unknown_event_is_404(client, channel, route):
    reply = client.post(f"/event/{route}", json=lifecycle_body(channel, "no-such-event"))
    assert reply.status_code == 404
    assert error_code(reply) == "event_not_found"


def test_event_of_another_channel_is_404(client, server, channel):
    event_id = create_event(client, channel)
    other = server.create_channel()
    reply = client.post("/event/update", json=lifecycle_body(other, event_id))
    assert reply.status_code == 404
    assert error_code(reply) == "event_not_found"


def test_unknown_field_is_rejected_by_name(client, channel):
    reply = client.post("/event/create", json=body_form(channel, colour="red"))
    assert reply.status_code == 400
    assert error_code(reply) == "unknown_field"
    assert "colour" in reply.json()["error"]


def test_event_type_is_not_a_body_form_field(client, channel):
    reply = client.post("/event/create", json=body_form(channel, event_type="door_open"))
    assert error_code(reply) == "unknown_field"


@pytest.mark.parametrize("route,field,code", [
    ("update", "started_at", "started_at_forbidden"),
    ("close", "started_at", "started_at_forbidden"),
    ("update", "ended_at", "ended_at_forbidden"),
])
def test_time_fields_outside_their_operation_are_forbidden(client, channel, route, field, code):
    event_id = create_event(client, channel)
    reply = client.post(f"/event/{route}", json=lifecycle_body(channel, event_id, **{field: 1713750000}))
    assert reply.status_code == 400
    assert error_code(reply) == code


def test_ended_at_on_create_is_forbidden(client, channel):
    reply = client.post("/event/create", json=body_form(channel, ended_at=1713750000))
    assert error_code(reply) == "ended_at_forbidden"


@pytest.mark.parametrize("field,value,code", [
    ("title", "", "title_invalid"),
    ("title", "   ", "title_invalid"),
    ("title", "t" * 257, "title_too_long"),
    ("title", 12, "title_invalid"),
    ("status", " ", "status_invalid"),
    ("status", "s" * 25, "status_too_long"),
    ("message", "", "message_invalid"),
    ("message", "m" * 513, "message_too_long"),
    ("severity", "urgent", "severity_invalid"),
    ("severity", 3, "severity_invalid"),
    ("op_id", "has space", "op_id_invalid"),
    ("op_id", "o" * 129, "op_id_invalid"),
    ("op_id", "", "op_id_invalid"),
    ("thing_id", "t" * 65, "thing_id_invalid"),
    ("thing_id", "a/b", "thing_id_invalid"),
    ("tags", ["x"] * 33, "tags_too_many"),
    ("tags", ["t" * 65], "tags_too_long"),
    ("tags", [""], "tags_invalid"),
    ("tags", [1], "tags_invalid"),
    ("tags", "db", "tags_invalid"),
    ("images", ["ftp://example.com/a.png"], "images_invalid"),
    ("images", ["not a url"], "images_invalid"),
    ("images", ["https://e.com/" + "a" * 2040], "images_too_long"),
    ("images", [f"https://e.com/{i}" for i in range(33)], "images_too_many"),
    ("attrs", {"list": [1, 2]}, "attrs_arrays_unsupported"),
    ("attrs", {"deep": {"list": [1]}}, "attrs_arrays_unsupported"),
    ("attrs", {"deep": {"deeper": {"x": 1}}}, "attrs_too_deep"),
    ("attrs", [1], "attrs_invalid"),
    ("metadata", {"k": {"nested": 1}}, "metadata_invalid"),
    ("metadata", {"k": None}, "metadata_invalid"),
    ("metadata", {"k" * 65: "v"}, "metadata_invalid"),
    ("metadata", {"k": "v" * 513}, "metadata_invalid"),
    ("description", 5, "description_invalid"),
])
def test_field_rule_violation_is_400_with_specific_code(client, channel, field, value, code):
    reply = client.post("/event/create", json=body_form(channel, **{field: value}))
    assert reply.status_code == 400, reply.text
    assert error_code(reply) == code


def test_severity_is_case_insensitive(client, server, channel):
    event_id = create_event(client, channel, severity="CRITICAL")
    key = server.create_key(("events:read",))
    assert client.get(f"/events/{event_id}", headers={"X-Api-Key": key}).json()["data"]["severity"] == "critical"


def test_empty_description_means_absent(client, server, channel):
    event_id = create_event(client, channel, description="")
    key = server.create_key(("events:read",))
    assert client.get(f"/events/{event_id}", headers={"X-Api-Key": key}).json()["data"]["description"] is None


def test_rejected_request_changes_nothing(client, server, channel):
    event_id = create_event(client, channel)
    reply = client.post("/event/update", json=lifecycle_body(channel, event_id, severity="urgent", title="new"))
    assert reply.status_code == 400
    key = server.create_key(("events:read",))
    timeline = client.get(f"/events/{event_id}/timeline", headers={"X-Api-Key": key}).json()["data"]
    assert [op["kind"] for op in timeline] == ["create"]


def test_update_changes_fields_and_merges_attrs(client, server, channel):
    event_id = create_event(client, channel, attrs={"a": 1, "b": 2, "nested": {"x": 1, "y": 2}})
    reply = client.post("/event/update", json=lifecycle_body(
        channel, event_id, title="Lag resolved?", attrs={"a": None, "c": 3, "nested": {"x": None, "z": 3}}))
    assert reply.status_code == 200, reply.text
    key = server.create_key(("events:read",))
    event = client.get(f"/events/{event_id}", headers={"X-Api-Key": key}).json()["data"]
    assert event["attrs"] == {"b": 2, "c": 3, "nested": {"y": 2, "z": 3}}
    assert event["title"] == "Lag resolved?"
    assert event["status"] == "investigating"
    assert event["state"] == "ongoing"


def test_close_sets_state_and_ended_at(client, server, channel):
    event_id = create_event(client, channel)
    reply = client.post("/event/close", json=lifecycle_body(channel, event_id, status="resolved",
                                                            event_time=1713760000, ended_at=1713759999))
    assert reply.status_code == 200
    key = server.create_key(("events:read",))
    event = client.get(f"/events/{event_id}", headers={"X-Api-Key": key}).json()["data"]
    assert event["state"] == "closed"
    assert event["status"] == "resolved"
    assert event["ended_at"] == 1713759999


def test_ended_at_defaults_to_event_time(client, server, channel):
    event_id = create_event(client, channel)
    client.post("/event/close", json=lifecycle_body(channel, event_id, event_time=1713760000))
    key = server.create_key(("events:read",))
    assert client.get(f"/events/{event_id}", headers={"X-Api-Key": key}).json()["data"]["ended_at"] == 1713760000


@pytest.mark.parametrize("route", ["update", "close"])
def test_update_or_close_on_closed_event_is_409(client, channel, route):
    event_id = create_event(client, channel)
    assert client.post("/event/close", json=lifecycle_body(channel, event_id)).status_code == 200
    reply = client.post(f"/event/{route}", json=lifecycle_body(channel, event_id))
    assert reply.status_code == 409
    assert error_code(reply) == "event_closed"


def test_timeline_records_every_operation_in_order(client, server, channel):
    event_id = create_event(client, channel, event_time=1713750000)
    client.post("/event/update", json=lifecycle_body(channel, event_id, event_time=1713750060))
    client.post("/event/close", json=lifecycle_body(channel, event_id, event_time=1713750120))
    key = server.create_key(("events:read",))
    timeline = client.get(f"/events/{event_id}/timeline", headers={"X-Api-Key": key}).json()["data"]
    assert [op["kind"] for op in timeline] == ["create", "update", "close"]
    assert [op["event_type"] for op in timeline] == ["event_created", "event_updated", "event_closed"]
    assert [op["event_time"] for op in timeline] == [1713750000, 1713750060, 1713750120]
    seqs = [op["seq"] for op in timeline]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert "password" not in timeline[0]["fields"]
    assert timeline[1]["fields"]["status"] == "investigating"


def test_password_is_never_stored_in_the_timeline(client, server, channel):
    event_id = create_event(client, channel)
    key = server.create_key(("events:read",))
    text = client.get(f"/events/{event_id}/timeline", headers={"X-Api-Key": key}).text
    assert PASSWORD not in text
