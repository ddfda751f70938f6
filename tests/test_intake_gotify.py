"""Gotify's `POST /message` (SPEC §9): a message in a channel token's channel becomes an event
created already closed, with Gotify's replies and errors."""

from __future__ import annotations

import json

import pytest

from tests.intake import intake_channel, new_token
from tests.live_client import read_events, subscribe, welcome


@pytest.fixture
def intake(server):
    return intake_channel(server)


@pytest.fixture
def gotify(server, intake):
    return server.client(headers={"X-Gotify-Key": intake.token})


def gotify_error(reply, status):
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error", "errorCode", "errorDescription"} and body["errorCode"] == status
    return body


def test_a_message_is_stored_as_an_event_created_already_closed(gotify, intake):
    reply = gotify.post("/message", json={"title": "Backup", "message": "Backup finished", "priority": 5})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["message"] == "Backup finished" and body["title"] == "Backup" and body["priority"] == 5
    assert body["appid"] == intake.token_id and isinstance(body["id"], int) and body["date"].endswith("Z")
    event = intake.only_event()
    assert event["title"] == "Backup" and event["message"] == "Backup finished"
    assert event["state"] == "closed" and event["status"] == "closed"
    assert event["started_at"] == event["ended_at"] is not None
    assert event["event_type"] == "gotify" and event["severity"] == "high"
    assert event["seq"] == body["id"]
    [operation] = intake.timeline(event["id"])
    assert operation["kind"] == "create" and operation["seq"] == body["id"]


@pytest.mark.parametrize("priority, severity", [
    (0, "low"), (2, "low"), (3, "normal"), (4, "normal"), (5, "high"), (7, "high"), (8, "critical"), (10, "critical"),
])
def test_priority_maps_to_severity(gotify, intake, priority, severity):
    assert gotify.post("/message", json={"message": "m", "priority": priority}).status_code == 200
    assert intake.only_event()["severity"] == severity


def test_a_whole_number_priority_written_as_a_float_is_that_number(gotify, intake):
    # JSON Schema's integer (the OpenAPI document) includes 5.0.
    reply = gotify.post("/message", content=b'{"message": "m", "priority": 8.0}',
                        headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["priority"] == 8 and isinstance(reply.json()["priority"], int)
    assert intake.only_event()["severity"] == "critical"


@pytest.mark.parametrize("priority", [-2**31, 2**31 - 1, -1])
def test_any_32_bit_priority_is_accepted(gotify, intake, priority):
    reply = gotify.post("/message", json={"message": "m", "priority": priority})
    assert reply.status_code == 200 and reply.json()["priority"] == priority


@pytest.mark.parametrize("body", [
    {"message": "m", "priority": 2**31}, {"message": "m", "priority": -2**31 - 1}, {"message": "m", "priority": 5.5},
])
def test_a_priority_outside_32_bits_or_fractional_is_400(gotify, intake, body):
    gotify_error(gotify.post("/message", json=body), 400)
    assert intake.events() == []


def test_a_form_priority_is_bounded_as_the_json_one(gotify, intake):
    assert gotify.post("/message", data={"message": "m", "priority": str(2**31 - 1)}).status_code == 200
    gotify_error(gotify.post("/message", data={"message": "m", "priority": str(2**31)}), 400)
    assert len(intake.events()) == 1


def test_no_priority_is_gotifys_default_priority_zero(gotify, intake):
    reply = gotify.post("/message", json={"message": "m"})
    assert reply.status_code == 200 and reply.json()["priority"] == 0
    assert intake.only_event()["severity"] == "low"


def test_no_title_is_the_tokens_name(gotify, intake):
    reply = gotify.post("/message", json={"title": "", "message": "m"})
    assert reply.status_code == 200 and reply.json()["title"] == "backup-script"
    assert intake.only_event()["title"] == "backup-script"


@pytest.mark.parametrize("where", ["header", "query", "bearer"])
def test_the_token_is_read_where_gotify_clients_send_it(server, intake, where):
    client = server.client()
    headers, params = {}, {}
    if where == "header":
        headers["X-Gotify-Key"] = intake.token
    elif where == "query":
        params["token"] = intake.token
    else:
        headers["Authorization"] = f"Bearer {intake.token}"
    reply = client.post("/message", json={"message": where}, headers=headers, params=params)
    assert reply.status_code == 200, reply.text
    assert intake.only_event()["message"] == where


def test_a_urlencoded_form_is_a_message(server, intake):
    reply = server.client().post(f"/message?token={intake.token}",
                                 data={"title": "Form", "message": "from a form", "priority": "8"})
    assert reply.status_code == 200, reply.text
    event = intake.only_event()
    assert (event["title"], event["message"], event["severity"]) == ("Form", "from a form", "critical")


def test_a_multipart_form_is_a_message_as_curl_F_sends_it(server, intake):
    reply = server.client().post(f"/message?token={intake.token}", files={
        "title": (None, "my title"), "message": (None, "my message"), "priority": (None, "5")})
    assert reply.status_code == 200, reply.text
    event = intake.only_event()
    assert (event["title"], event["message"], event["severity"]) == ("my title", "my message", "high")


def test_extras_are_kept_in_attrs_and_a_click_url_becomes_an_action(gotify, intake):
    extras = {"client::display": {"contentType": "text/markdown"},
              "client::notification": {"click": {"url": "https://status.example.com/"}, "bigImageUrl": "x"}}
    reply = gotify.post("/message", json={"message": "**bold**", "extras": extras})
    assert reply.status_code == 200 and reply.json()["extras"] == extras
    event = intake.only_event()
    assert event["attrs"]["client::display"] == {"contentType": "text/markdown"}
    assert event["attrs"]["client::notification"]["click.url"] == "https://status.example.com/"
    assert event["actions"] == [{"label": "Open", "url": "https://status.example.com/"}]


def test_a_long_message_keeps_its_whole_text_in_the_description(gotify, intake):
    text = "x" * 2000
    reply = gotify.post("/message", json={"message": text})
    assert reply.status_code == 200 and reply.json()["message"] == text
    event = intake.only_event()
    assert event["description"] == text and len(event["message"]) == 512 and event["message"].endswith("…")


def test_the_request_may_name_its_event_type(gotify, intake):
    assert gotify.post("/message", json={"message": "m"}, headers={"X-Event-Type": "backup_done"}).status_code == 200
    assert intake.only_event()["event_type"] == "backup_done"


def test_an_idempotency_key_makes_a_retry_a_replay(gotify, intake):
    first = gotify.post("/message", json={"message": "once"}, headers={"Idempotency-Key": "job-42"})
    again = gotify.post("/message", json={"message": "once"}, headers={"Idempotency-Key": "job-42"})
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert len(intake.events()) == 1
    other = gotify.post("/message", json={"message": "other"}, headers={"Idempotency-Key": "job-42"})
    gotify_error(other, 409)


def test_a_message_reaches_live_subscribers_like_any_event(server, gotify, intake):
    key = server.create_key(("subscribe",), workspace_id=intake.workspace_id)
    with subscribe(server.base_url, key) as ws:
        welcome(ws)
        assert gotify.post("/message", json={"title": "Live", "message": "m", "priority": 9}).status_code == 200
        [frame] = read_events(ws, 1)
    assert frame["event_type"] == "event_created" and frame["op"]["kind"] == "create"
    assert frame["event"]["state"] == "closed" and frame["event"]["title"] == "Live"
    assert frame["event"]["severity"] == "critical" and frame["event"]["channel_id"] == intake.channel_id


# -- errors --------------------------------------------------------------------------------------


def test_no_token_is_401(server, intake):
    reply = server.client().post("/message", json={"message": "m"})
    body = gotify_error(reply, 401)
    assert body["error"] == "Unauthorized" and reply.headers["WWW-Authenticate"] == "Bearer"
    assert intake.events() == []


@pytest.mark.parametrize("token", ["wrong", "a" * 32, "egk_notatoken"])
def test_a_wrong_token_is_401(server, intake, token):
    gotify_error(server.client().post("/message", json={"message": "m"}, headers={"X-Gotify-Key": token}), 401)
    assert intake.events() == []


def test_an_api_key_or_channel_password_is_not_a_token(server, intake):
    key = server.create_key(workspace_id=intake.workspace_id)
    for credential in (key, "correct-horse-battery"):
        gotify_error(server.client().post("/message", json={"message": "m"},
                                          headers={"X-Gotify-Key": credential}), 401)


def test_a_revoked_token_is_refused_at_once(gotify, intake):
    assert gotify.post("/message", json={"message": "before"}).status_code == 200
    intake.revoke()
    gotify_error(gotify.post("/message", json={"message": "after"}), 401)
    assert [e["message"] for e in intake.events()] == ["before"]


def test_a_token_writes_only_to_its_own_channel(server, intake):
    other = server.create_channel(workspace_id=intake.workspace_id, name="other")
    other_token, _ = new_token(server, intake.workspace_id, other)
    client = server.client(headers={"X-Gotify-Key": other_token})
    assert client.post("/message", json={"message": "to B"}).status_code == 200
    assert intake.events() == []


@pytest.mark.parametrize("body, code_field", [
    ({}, "message"),
    ({"message": ""}, "message"),
    ({"message": "   "}, "message"),
    ({"message": "m", "priority": "5"}, "priority"),
    ({"message": "m", "priority": 2**70}, "priority"),
    ({"message": "m", "title": "t" * 300}, "title"),
    ({"message": "m" * 5000}, "message"),
    ({"message": "m\u0000"}, "message"),
    ({"message": "m", "extras": []}, "extras"),
    ({"message": "m", "extras": {"client::notification": {"click": {"url": "javascript:x"}}}}, "extras"),
])
def test_a_bad_message_is_400_and_stores_nothing(gotify, intake, body, code_field):
    body_error = gotify_error(gotify.post("/message", json=body), 400)
    assert body_error["error"] == "Bad Request"
    assert intake.events() == []


@pytest.mark.parametrize("raw, content_type, status", [
    (b"{not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b"message=m&priority=high", "application/x-www-form-urlencoded", 400),
    (b"message=\xff", "application/x-www-form-urlencoded", 400),
    (b"<message/>", "text/xml", 415),
    (b"", "", 400),
])
def test_a_body_gotify_cannot_read_is_a_clear_4xx(gotify, intake, raw, content_type, status):
    headers = {"Content-Type": content_type} if content_type else {}
    gotify_error(gotify.post("/message", content=raw, headers=headers), status)


def test_a_file_in_a_multipart_form_is_400(gotify):
    reply = gotify.post("/message", files={"message": ("a.txt", b"hello", "text/plain")})
    gotify_error(reply, 400)


def test_a_body_over_the_limit_is_413(gotify, intake):
    gotify_error(gotify.post("/message", json={"message": "m", "extras": {"x": "y" * 40_000}}), 413)


def test_an_invalid_idempotency_key_is_400(gotify):
    gotify_error(gotify.post("/message", json={"message": "m"}, headers={"Idempotency-Key": "a b"}), 400)


def test_an_inactive_event_type_is_refused_in_gotifys_shape(gotify, intake):
    created = intake.reader.post("/api/b/v2/events", json={"name": "Quiet", "code": "quiet"})
    assert created.status_code == 201, created.text
    assert intake.reader.post(f"/api/b/v2/events/{created.json()['id']}/deactivate").status_code == 204
    gotify_error(gotify.post("/message", json={"message": "m"}, params={"event_type": "quiet"}), 409)
    gotify_error(gotify.post("/message", json={"message": "m"}, params={"event_type": "event_closed"}), 400)
    gotify_error(gotify.post("/message", json={"message": "m"}, params={"event_type": "no spaces"}), 400)


def test_when_the_store_cannot_take_writes_the_answer_is_503_never_429(server_factory, intake):
    full = server_factory(write_queue_size=0)  # every write is refused as overloaded
    reply = full.client().post("/message", json={"message": "m"}, headers={"X-Gotify-Key": intake.token})
    gotify_error(reply, 503)
    assert reply.headers["Retry-After"] == "1"
    assert intake.events() == []


def test_the_reply_names_no_secret(gotify, intake):
    reply = gotify.post("/message", json={"message": "m"})
    assert intake.token not in json.dumps(reply.json())


def test_a_token_stops_working_at_once_when_its_channel_is_deleted(gotify, intake):
    assert gotify.post("/message", json={"message": "before"}).status_code == 200  # the token is cached now
    assert intake.admin.delete(f"/admin/channels/{intake.channel_id}").status_code == 204
    gotify_error(gotify.post("/message", json={"message": "after"}), 401)
