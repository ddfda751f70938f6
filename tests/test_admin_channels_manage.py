"""Renaming and deleting channels, deleting event types, choosing a password on rotation: what
each does to everything that hangs on a channel or a type (events, tokens, destination filters,
live streams), through the admin API, the registry API and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from eventgate.client import Client, StreamEnded
from eventgate.store.schema import channel_tokens
from tests.conftest import PASSWORD
from tests.helpers import body_form, error_code
from tests.live_client import close_code, read_events, subscribe, welcome
from tests.test_client import Collector
from tests.test_key_revocation import DEADLINE, sse

CHANNEL_DELETED = 4004


@pytest.fixture
def admin(server, workspace) -> httpx.Client:
    key = server.create_key(("admin",), workspace_id=workspace)
    return server.client(headers={"Authorization": f"Bearer {key}"})


def produce(server, channel: str, password: str = PASSWORD) -> httpx.Response:
    return server.client().post("/event/create", json=body_form(channel, password=password))


def eventgate(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eventgate", *args, "--database-url", server.settings.database_url],
                          capture_output=True, text=True, timeout=120)


def create_token(admin: httpx.Client, channel: str) -> dict[str, Any]:
    reply = admin.post(f"/admin/channels/{channel}/tokens", json={"name": "backup script"})
    assert reply.status_code == 201, reply.text
    return reply.json()["data"]


def ntfy_publish(server, channel: str, token: str) -> httpx.Response:
    return server.client().post(f"/{channel}", content=b"Backup done", headers={"Authorization": f"Bearer {token}"})


# -- renaming ------------------------------------------------------------------------------------


def test_renaming_keeps_the_channels_id_password_tokens_and_events(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace, name="garage")
    token = create_token(admin, channel)
    event_id = produce(server, channel).json()["data"]["event_id"]
    reply = admin.patch(f"/admin/channels/{channel}", json={"name": "workshop"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["channel_id"] == channel and reply.json()["data"]["name"] == "workshop"
    assert produce(server, channel).status_code == 200
    assert ntfy_publish(server, channel, token["token"]).status_code == 200
    assert admin.get(f"/events/{event_id}").json()["data"]["channel_id"] == channel


@pytest.mark.parametrize("body, code", [
    ({}, "name_required"), ({"name": ""}, "name_invalid"), ({"name": "x" * 129}, "name_too_long"),
    ({"name": "x", "id": 1}, "unknown_field"),
])
def test_a_bad_rename_is_400_and_changes_nothing(server, admin, workspace, body, code):
    channel = server.create_channel(workspace_id=workspace, name="garage")
    reply = admin.patch(f"/admin/channels/{channel}", json=body)
    assert reply.status_code == 400 and error_code(reply) == code
    assert "garage" in [c["name"] for c in admin.get("/admin/channels").json()["data"]]


def test_cli_channel_rename(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace, name="garage")
    result = eventgate(server, "channel", "rename", channel, "--name", "workshop", "--workspace", workspace, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "workshop"
    assert "workshop" in [c["name"] for c in admin.get("/admin/channels").json()["data"]]


def test_cli_renaming_an_unknown_channel_fails_cleanly(server, workspace):
    result = eventgate(server, "channel", "rename", "06J0FZG1Y8XGG14VTQ4Y3G10MR", "--name", "x",
                       "--workspace", workspace)
    assert result.returncode == 1 and "does not exist" in result.stderr


# -- deleting: tokens, filters, events -----------------------------------------------------------


def test_deleting_a_channel_deletes_its_tokens(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    token = create_token(admin, channel)
    assert ntfy_publish(server, channel, token["token"]).status_code == 200
    assert admin.delete(f"/admin/channels/{channel}").status_code == 204
    assert ntfy_publish(server, channel, token["token"]).status_code in (401, 403)
    with server.database.reader.connect() as connection:
        left = connection.execute(sa.select(channel_tokens).where(channel_tokens.c.channel_id == channel)).all()
    assert left == []


def test_deleting_a_channel_keeps_its_events_for_people_to_act_on(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    event_id = produce(server, channel).json()["data"]["event_id"]
    assert admin.delete(f"/admin/channels/{channel}").status_code == 204
    assert admin.get(f"/events/{event_id}/timeline").status_code == 200
    listed = admin.get("/events", params={"channel_id": channel}).json()["data"]
    assert [e["id"] for e in listed] == [event_id]
    acknowledged = admin.post(f"/events/{event_id}/acknowledge")
    assert acknowledged.status_code == 200, acknowledged.text
    assert admin.post(f"/events/{event_id}/close").status_code == 200


def test_deleting_a_channel_leaves_destination_filters_as_they_are(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    other = server.create_channel(workspace_id=workspace)
    created = admin.post("/admin/destinations", json={
        "name": "ops", "kind": "webhook", "url": "https://hooks.example.com/eventgate", "enabled": False,
        "filter": {"channel_id": [channel, other]}})
    assert created.status_code == 201, created.text
    assert admin.delete(f"/admin/channels/{channel}").status_code == 204
    kept = admin.get(f"/admin/destinations/{created.json()['data']['id']}").json()["data"]
    assert kept["filter"] == {"channel_id": [channel, other]}


# -- deleting: live streams ----------------------------------------------------------------------


def test_a_websocket_limited_to_a_deleted_channel_closes_with_4004(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    key = server.create_key(("subscribe",), workspace_id=workspace)
    with subscribe(server.base_url, key, channel_id=channel) as ws:
        welcome(ws)
        assert admin.delete(f"/admin/channels/{channel}").status_code == 204
        code, reason, _ = close_code(ws, timeout=DEADLINE)
    assert (code, reason) == (CHANNEL_DELETED, "channel deleted")


def test_a_stream_naming_another_channel_too_goes_on(server, admin, workspace):
    doomed = server.create_channel(workspace_id=workspace)
    kept = server.create_channel(workspace_id=workspace)
    key = server.create_key(("subscribe",), workspace_id=workspace)
    with subscribe(server.base_url, key, channel_id=f"{doomed},{kept}") as both, \
            subscribe(server.base_url, key) as everything:
        welcome(both)
        welcome(everything)
        assert admin.delete(f"/admin/channels/{doomed}").status_code == 204
        event_id = produce(server, kept).json()["data"]["event_id"]
        assert read_events(both, 1, timeout=DEADLINE)[0]["event"]["id"] == event_id
        assert read_events(everything, 1, timeout=DEADLINE)[0]["event"]["id"] == event_id


def test_an_sse_stream_limited_to_a_deleted_channel_ends_with_a_close_message(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    key = server.create_key(("subscribe",), workspace_id=workspace, channels=(channel,))
    with sse(server.base_url, key) as stream:
        stream.welcome()
        assert admin.delete(f"/admin/channels/{channel}").status_code == 204
        messages = stream.until_end()
    assert messages and messages[-1].get("event") == "close", messages
    assert messages[-1]["data"]["code"] == CHANNEL_DELETED and messages[-1]["data"]["reason"] == "channel deleted"


def test_a_delete_from_the_command_line_ends_the_servers_streams_too(server, workspace):
    channel = server.create_channel(workspace_id=workspace)
    key = server.create_key(("subscribe",), workspace_id=workspace)
    with subscribe(server.base_url, key, channel_id=channel) as ws:
        welcome(ws)
        result = eventgate(server, "channel", "delete", channel, "--yes", "--workspace", workspace)
        assert result.returncode == 0, result.stderr
        code, reason, _ = close_code(ws, timeout=DEADLINE)
    assert (code, reason) == (CHANNEL_DELETED, "channel deleted")


def test_the_python_client_stops_following_a_deleted_channel(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    key = server.create_key(("subscribe",), workspace_id=workspace)
    with Client(server.base_url, key=key) as client:
        collector = Collector(client.subscribe(channel_id=channel))
        collector.start()
        produce(server, channel)
        collector.wait_for(1)
        assert admin.delete(f"/admin/channels/{channel}").status_code == 204
        collector.join(DEADLINE)
    assert not collector.is_alive()
    assert isinstance(collector.error, StreamEnded) and collector.error.code == "channel_deleted", collector.error


# -- rotating to a chosen password ---------------------------------------------------------------


def test_cli_rotate_to_a_chosen_password(server, workspace):
    channel = server.create_channel(workspace_id=workspace)
    result = eventgate(server, "channel", "rotate-password", channel, "--password", "a-chosen-password",
                       "--workspace", workspace, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"channel_id": channel}
    assert produce(server, channel, "a-chosen-password").status_code == 200
    assert produce(server, channel).status_code == 403


def test_cli_rotate_to_a_too_short_password_fails_and_changes_nothing(server, workspace):
    channel = server.create_channel(workspace_id=workspace)
    result = eventgate(server, "channel", "rotate-password", channel, "--password", "short", "--workspace", workspace)
    assert result.returncode == 1 and "password" in result.stderr
    assert produce(server, channel).status_code == 200


def test_a_rotated_password_is_trimmed_as_at_creation(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    reply = admin.post(f"/admin/channels/{channel}/rotate-password", json={"password": "  spaced-password  "})
    assert reply.status_code == 200, reply.text
    assert produce(server, channel, "spaced-password").status_code == 200


# -- deleting event types ------------------------------------------------------------------------


def types_api(server, workspace: str) -> httpx.Client:
    key = server.create_key(("types:read", "types:write"), workspace_id=workspace)
    return server.client(headers={"Authorization": f"Bearer {key}"})


def test_an_unused_type_is_deleted_and_its_code_can_be_registered_again(server, workspace):
    types = types_api(server, workspace)
    type_id = types.post("/api/b/v2/events", json={"name": "Door", "code": "door_open"}).json()["id"]
    assert types.delete(f"/api/b/v2/events/{type_id}").status_code == 204
    assert types.get(f"/api/b/v2/events/{type_id}").status_code == 404
    again = types.post("/api/b/v2/events", json={"name": "Door", "code": "door_open"})
    assert again.status_code == 201 and again.json()["id"] != type_id


def test_a_type_that_events_carry_is_409_and_stays(server, workspace):
    types = types_api(server, workspace)
    channel = server.create_channel(workspace_id=workspace)
    created = server.client().post(f"/v1/channel/{channel}/event/create",
                                   json={"password": PASSWORD, "event_type": "door_open"})
    assert created.status_code == 200, created.text
    found = [t for t in types.get("/api/b/v2/events", params={"per_page": 100}).json()["data"]
             if t["code"] == "door_open"]
    reply = types.delete(f"/api/b/v2/events/{found[0]['id']}")
    assert reply.status_code == 409 and error_code(reply) == "event_type_in_use"
    assert "1 stored event" in reply.json()["error"] and "deactivate" in reply.json()["error"]
    assert types.get(f"/api/b/v2/events/{found[0]['id']}").status_code == 200


def test_cli_type_delete(server, workspace):
    types = types_api(server, workspace)
    type_id = types.post("/api/b/v2/events", json={"name": "Door", "code": "door_open"}).json()["id"]
    result = eventgate(server, "type", "delete", "door_open", "--workspace", workspace, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["deleted"] is True
    assert types.get(f"/api/b/v2/events/{type_id}").status_code == 404


def test_cli_type_delete_refuses_a_type_in_use_and_a_system_type(server, workspace):
    channel = server.create_channel(workspace_id=workspace)
    server.client().post(f"/v1/channel/{channel}/event/create", json={"password": PASSWORD, "event_type": "door_open"})
    in_use = eventgate(server, "type", "delete", "door_open", "--workspace", workspace)
    assert in_use.returncode == 1 and "deactivate it instead" in in_use.stderr
    system = eventgate(server, "type", "delete", "event_created", "--workspace", workspace)
    assert system.returncode == 1 and "SYSTEM" in system.stderr
