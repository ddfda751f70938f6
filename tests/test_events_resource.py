"""Seed 002, one event at a time: POST/GET/PUT/DELETE /events and the timeline (SPEC §4).

Every test works in a workspace of its own, so listings and counts are its alone."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from eventgate.store.channels import default_channel
from eventgate.store.schema import operations
from tests.helpers import body_form, error_code, lifecycle_body
from tests.seed_commands import curl_commands, run_curl, seed_text

SEED_EVENT = {
    "title": "User event",
    "subtitle": "Triggered by peter@parker.com",
    "context": {"userId": 1, "name": "Peter Parker", "ip": "1.1.1.1"},
    "topics": ["users"],
}




def create(api, **fields):
    reply = api.post("/events", json={**SEED_EVENT, **fields})
    assert reply.status_code == 201, reply.text
    return reply.json()


def default_channel_of(server, workspace):
    with server.database.reader.connect() as connection:
        return default_channel(connection, workspace).id


def operation_kinds(server, workspace, event_id):
    with server.database.reader.connect() as connection:
        return list(connection.execute(
            sa.select(operations.c.kind)
            .where(operations.c.workspace_id == workspace, operations.c.event_id == event_id)
            .order_by(operations.c.seq)).scalars())


# -- the seed's curl examples, verbatim ---------------------------------------------------------


def seed_commands(server, token):
    return [c.replace("https://api.observli.com", server.base_url).replace("{token}", token)
            for c in curl_commands(seed_text("002"))]


def test_seed_create_example_runs_verbatim_with_curls_form_content_type(server, workspace):
    create_command = seed_commands(server, server.create_key(workspace_id=workspace))[0]
    status, body = run_curl(create_command)
    assert status == 201, body
    event = json.loads(body)
    assert event["workspace_id"] == workspace
    assert event["title"] == "User event"
    assert event["subtitle"] == "Triggered by peter@parker.com"
    assert event["context"] == {"userId": 1, "name": "Peter Parker", "ip": "1.1.1.1"}
    assert event["actions"] == [] and event["topics"] == ["users"]
    assert isinstance(event["created"], int) and isinstance(event["timestamp"], int)


def test_seed_get_example_runs_verbatim(server, workspace, api):
    event_id = create(api)["id"]
    command = seed_commands(server, server.create_key(workspace_id=workspace))[1].replace("56dkkly", event_id)
    status, body = run_curl(command)
    assert status == 200, body
    data = json.loads(body)["data"]
    assert data["id"] == event_id and data["subtitle"] == "Triggered by peter@parker.com"


def test_seed_put_example_with_a_form_body_runs_verbatim(server, workspace, api):
    event_id = create(api)["id"]
    command = seed_commands(server, server.create_key(workspace_id=workspace))[2].replace("56dkkly", event_id)
    status, body = run_curl(command)
    assert status == 200, body
    event = json.loads(body)
    assert event["subtitle"] == "Updated event subtitle"
    assert event["title"] == "User event"
    assert event["context"] == SEED_EVENT["context"]


def test_seed_delete_example_runs_verbatim(server, workspace, api):
    event_id = create(api)["id"]
    command = seed_commands(server, server.create_key(workspace_id=workspace))[3].replace("56dkkly", event_id)
    status, _ = run_curl(command)
    assert status == 204
    assert api.get(f"/events/{event_id}").status_code == 404


def test_seed_list_example_runs_verbatim(server, workspace, api):
    ongoing = create(api)["id"]
    command = seed_commands(server, server.create_key(workspace_id=workspace))[4]
    status, body = run_curl(command)
    assert status == 200, body
    assert [e["id"] for e in json.loads(body)["data"]] == [ongoing]


# -- create -------------------------------------------------------------------------------------


def test_create_returns_the_seed_fields_then_canonical_ones(api, workspace):
    event = create(api)
    assert list(event)[:9] == ["id", "workspace_id", "title", "subtitle", "context", "actions", "topics",
                               "created", "timestamp"]
    assert event["message"] == event["subtitle"] and event["tags"] == ["users"]
    assert event["attrs"] == event["context"] and event["state"] == "ongoing" and event["severity"] == "normal"


def test_create_without_channel_uses_the_workspaces_default_channel(server, workspace, api):
    assert create(api)["channel_id"] == default_channel_of(server, workspace)


def test_create_in_a_named_channel(server, workspace, api):
    channel = server.create_channel(workspace_id=workspace)
    assert create(api, channel_id=channel)["channel_id"] == channel


def test_create_in_another_workspaces_channel_is_404(server, api):
    other_channel = server.create_channel(workspace_id=server.create_workspace())
    reply = api.post("/events", json={**SEED_EVENT, "channel_id": other_channel})
    assert reply.status_code == 404 and error_code(reply) == "channel_not_found"


def test_create_takes_severity_event_type_and_actions(api):
    event = create(api, severity="HIGH", event_type="signup",
                   actions=[{"label": "Open user", "url": "https://example.com/users/1"}])
    assert event["severity"] == "high" and event["event_type"] == "signup"
    assert event["actions"] == [{"label": "Open user", "url": "https://example.com/users/1"}]


def test_create_records_an_event_created_operation(server, workspace, api):
    event_id = create(api)["id"]
    timeline = api.get(f"/events/{event_id}/timeline").json()["data"]
    assert [(op["kind"], op["event_type"]) for op in timeline] == [("create", "event_created")]


@pytest.mark.parametrize("missing", ["title", "subtitle", "topics"])
def test_create_without_a_required_field_is_400(api, missing):
    body = {k: v for k, v in SEED_EVENT.items() if k != missing}
    reply = api.post("/events", json=body)
    assert reply.status_code == 400 and error_code(reply) == f"{missing}_required"


def test_create_with_an_unknown_field_is_400(api):
    reply = api.post("/events", json={**SEED_EVENT, "colour": "red"})
    assert reply.status_code == 400 and error_code(reply) == "unknown_field"
    assert "colour" in reply.json()["error"]


@pytest.mark.parametrize("field, value, code", [
    ("title", 5, "title_invalid"),
    ("title", "", "title_invalid"),
    ("title", "x" * 257, "title_too_long"),
    ("subtitle", ["a"], "subtitle_invalid"),
    ("topics", "users", "topics_invalid"),
    ("topics", [1], "topics_invalid"),
    ("topics", [""], "topics_invalid"),
    ("context", [1, 2], "context_invalid"),
    ("context", {"list": [1]}, "context_arrays_unsupported"),
    ("context", {"a": {"b": {"c": 1}}}, "context_too_deep"),
    ("actions", {"label": "x"}, "actions_invalid"),
    ("actions", [{"label": "x", "url": "ftp://example.com"}], "actions_invalid"),
    ("actions", [{"label": "x", "url": "https://example.com", "icon": "y"}], "actions_invalid"),
    ("actions", [{"label": "x"}], "actions_invalid"),
    ("severity", "urgent", "severity_invalid"),
    ("event_type", "has space", "event_type_invalid"),
    ("channel_id", 7, "channel_id_invalid"),
])
def test_create_with_a_bad_value_is_400_naming_the_field(api, field, value, code):
    reply = api.post("/events", json={**SEED_EVENT, field: value})
    assert reply.status_code == 400, reply.text
    assert error_code(reply) == code


def test_create_with_invalid_json_is_400(api):
    reply = api.post("/events", content=b'{"title": ', headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and error_code(reply) == "invalid_json"


def test_create_with_a_json_array_is_400(api):
    reply = api.post("/events", json=[SEED_EVENT])
    assert reply.status_code == 400


def test_create_with_an_unsupported_content_type_is_415(api):
    reply = api.post("/events", content=json.dumps(SEED_EVENT), headers={"Content-Type": "text/plain"})
    assert reply.status_code == 415 and error_code(reply) == "unsupported_media_type"


def test_create_with_a_body_over_32_kib_is_413(api):
    reply = api.post("/events", json={**SEED_EVENT, "subtitle": "x" * 40_000})
    assert reply.status_code == 413 and error_code(reply) == "payload_too_large"


def test_create_with_a_query_parameter_is_400(api):
    reply = api.post("/events?dry_run=1", json=SEED_EVENT)
    assert reply.status_code == 400 and error_code(reply) == "unknown_parameter"


# -- form bodies --------------------------------------------------------------------------------


def test_form_body_creates_an_event_with_repeated_and_comma_separated_topics(api):
    reply = api.post("/events", data={"title": "Signup", "subtitle": "from the form",
                                      "topics": ["users", "growth,web"]})
    assert reply.status_code == 201, reply.text
    assert reply.json()["topics"] == ["users", "growth", "web"]


def test_form_body_takes_context_and_actions_as_json_text(api):
    reply = api.post("/events", data={"title": "t", "subtitle": "s", "topics": "a",
                                      "context": '{"userId": 1}',
                                      "actions": '[{"label": "Open", "url": "https://example.com"}]'})
    assert reply.status_code == 201, reply.text
    assert reply.json()["context"] == {"userId": 1}
    assert reply.json()["actions"] == [{"label": "Open", "url": "https://example.com"}]


def test_form_body_with_context_that_is_not_json_is_400(api):
    reply = api.post("/events", data={"title": "t", "subtitle": "s", "topics": "a", "context": "userId=1"})
    assert reply.status_code == 400 and error_code(reply) == "context_invalid"


def test_form_body_with_an_unknown_field_is_400(api):
    reply = api.post("/events", data={"title": "t", "subtitle": "s", "topics": "a", "colour": "red"})
    assert reply.status_code == 400 and error_code(reply) == "unknown_field"


def test_form_body_with_a_field_given_twice_is_400(api):
    reply = api.post("/events", content="title=a&title=b&subtitle=s&topics=x",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400 and error_code(reply) == "title_invalid"


def test_json_body_sent_with_the_form_content_type_is_read_as_json(api):
    reply = api.post("/events", content=json.dumps(SEED_EVENT),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["context"] == SEED_EVENT["context"]


# -- get ----------------------------------------------------------------------------------------


def test_get_wraps_the_event_in_data(api):
    event_id = create(api)["id"]
    reply = api.get(f"/events/{event_id}")
    assert reply.status_code == 200
    assert set(reply.json()) == {"data"}
    assert reply.json()["data"]["id"] == event_id


def test_get_unknown_event_is_404(api):
    reply = api.get("/events/no-such-event")
    assert reply.status_code == 404 and error_code(reply) == "event_not_found"


def test_event_from_the_channel_lifecycle_routes_reads_with_seed_002_names(server, workspace, api):
    channel = server.create_channel(workspace_id=workspace)
    reply = server.client().post("/event/create", json=body_form(
        channel, message="Replica delay", tags=["db"], attrs={"lag": 31}))
    event_id = reply.json()["data"]["event_id"]
    data = api.get(f"/events/{event_id}").json()["data"]
    assert (data["subtitle"], data["topics"], data["context"]) == ("Replica delay", ["db"], {"lag": 31})


# -- update -------------------------------------------------------------------------------------


def test_put_replaces_context_and_keeps_other_fields(api):
    event_id = create(api)["id"]
    reply = api.put(f"/events/{event_id}", json={"context": {"plan": "pro"}})
    assert reply.status_code == 200, reply.text
    event = reply.json()
    assert event["context"] == {"plan": "pro"}
    assert (event["title"], event["subtitle"], event["topics"]) == (
        "User event", "Triggered by peter@parker.com", ["users"])
    assert api.get(f"/events/{event_id}").json()["data"]["context"] == {"plan": "pro"}


def test_put_changes_title_subtitle_and_topics(api):
    event_id = create(api)["id"]
    event = api.put(f"/events/{event_id}", json={"title": "T2", "subtitle": "S2", "topics": ["a", "b"]}).json()
    assert (event["title"], event["subtitle"], event["topics"]) == ("T2", "S2", ["a", "b"])


def test_put_records_an_event_updated_operation(api):
    event_id = create(api)["id"]
    api.put(f"/events/{event_id}", json={"subtitle": "changed"})
    timeline = api.get(f"/events/{event_id}/timeline").json()["data"]
    assert [op["event_type"] for op in timeline] == ["event_created", "event_updated"]
    assert timeline[1]["fields"] == {"message": "changed"}


def test_put_without_any_field_is_400(api):
    event_id = create(api)["id"]
    reply = api.put(f"/events/{event_id}", json={})
    assert reply.status_code == 400 and error_code(reply) == "no_changes"


def test_put_cannot_move_an_event_to_another_channel(api):
    event_id = create(api)["id"]
    reply = api.put(f"/events/{event_id}", json={"channel_id": "06J0FZG1Y8XGG14VTQ4Y3G10MR"})
    assert reply.status_code == 400 and error_code(reply) == "unknown_field"


def test_put_unknown_event_is_404(api):
    reply = api.put("/events/no-such-event", json={"subtitle": "x"})
    assert reply.status_code == 404 and error_code(reply) == "event_not_found"


def test_put_on_a_closed_event_is_409(server, workspace, api):
    channel = server.create_channel(workspace_id=workspace)
    producer = server.client()
    event_id = producer.post("/event/create", json=body_form(channel)).json()["data"]["event_id"]
    assert producer.post("/event/close", json=lifecycle_body(channel, event_id)).status_code == 200
    reply = api.put(f"/events/{event_id}", json={"subtitle": "too late"})
    assert reply.status_code == 409 and error_code(reply) == "event_closed"


def test_put_with_a_wrong_type_is_400(api):
    event_id = create(api)["id"]
    reply = api.put(f"/events/{event_id}", json={"context": "not an object"})
    assert reply.status_code == 400 and error_code(reply) == "context_invalid"


# -- delete -------------------------------------------------------------------------------------


def test_delete_is_204_and_the_event_is_gone(api):
    event_id = create(api)["id"]
    reply = api.delete(f"/events/{event_id}")
    assert reply.status_code == 204 and reply.content == b""
    assert api.get(f"/events/{event_id}").status_code == 404
    assert api.get(f"/events/{event_id}/timeline").status_code == 404


def test_delete_records_an_event_deleted_operation(server, workspace, api):
    event_id = create(api)["id"]
    api.delete(f"/events/{event_id}")
    assert operation_kinds(server, workspace, event_id) == ["create", "delete"]


def test_delete_unknown_event_is_404(api):
    reply = api.delete("/events/no-such-event")
    assert reply.status_code == 404 and error_code(reply) == "event_not_found"


def test_delete_twice_is_404_the_second_time(api):
    event_id = create(api)["id"]
    assert api.delete(f"/events/{event_id}").status_code == 204
    assert api.delete(f"/events/{event_id}").status_code == 404


def test_deleted_event_cannot_be_updated(api):
    event_id = create(api)["id"]
    api.delete(f"/events/{event_id}")
    assert api.put(f"/events/{event_id}", json={"subtitle": "x"}).status_code == 404


# -- workspaces ---------------------------------------------------------------------------------


def test_a_key_of_another_workspace_cannot_read_or_change_the_event(server, api):
    event_id = create(api)["id"]
    stranger = server.client(headers={"X-Api-Key": server.create_key(workspace_id=server.create_workspace())})
    assert stranger.get(f"/events/{event_id}").status_code == 404
    assert stranger.get(f"/events/{event_id}/timeline").status_code == 404
    assert stranger.put(f"/events/{event_id}", json={"subtitle": "mine"}).status_code == 404
    assert stranger.delete(f"/events/{event_id}").status_code == 404
    assert stranger.get("/events").json()["data"] == []
    assert api.get(f"/events/{event_id}").json()["data"]["subtitle"] == "Triggered by peter@parker.com"



# -- input that must never reach the database ---------------------------------------------------


@pytest.mark.parametrize("path", ["/events/a%00b", "/events/" + "x" * 300, "/events/bad%20id"])
def test_an_id_no_event_can_have_is_404_on_every_route(api, path):
    for reply in (api.get(path), api.get(path + "/timeline"), api.put(path, json={"subtitle": "x"}),
                  api.delete(path)):
        assert reply.status_code == 404 and error_code(reply) == "event_not_found", reply.text


@pytest.mark.parametrize("field, value", [
    ("title", "a\u0000b"), ("topics", ["a\u0000"]), ("context", {"k\u0000": 1}), ("context", {"k": "v\u0000"}),
    ("actions", [{"label": "a\u0000", "url": "https://example.com"}]),
])
def test_nul_characters_in_a_body_are_400(api, field, value):
    reply = api.post("/events", json={**SEED_EVENT, field: value})
    assert reply.status_code == 400 and error_code(reply) == f"{field}_invalid", reply.text


def test_nul_characters_in_a_form_body_are_400(api):
    reply = api.post("/events", content="title=a%00b&subtitle=s&topics=t",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400 and error_code(reply) == "title_invalid"


def test_a_form_body_that_is_not_utf8_is_400(api):
    reply = api.post("/events", content=b"title=\xff\xfe&subtitle=s&topics=t",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400 and error_code(reply) == "invalid_form"
