"""Administration of keys and channels: the admin HTTP API (scope admin) and the
`eventgate key|channel` commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from eventgate.domain.times import now_ms
from eventgate.ids import new_channel_id
from tests.conftest import PASSWORD
from tests.helpers import body_form, error_code

EVENT = {"title": "t", "subtitle": "s", "topics": []}



@pytest.fixture
def admin(server, workspace):
    return server.client(headers={"Authorization": f"Bearer {server.create_key(('admin',), workspace_id=workspace)}"})


def with_key(server, key):
    return server.client(headers={"Authorization": f"Bearer {key}"})


def produce(server, channel, password=PASSWORD):
    return server.client().post("/event/create", json=body_form(channel, password=password))


# -- keys ---------------------------------------------------------------------------------------


def test_created_key_is_shown_once_and_works(server, admin):
    reply = admin.post("/admin/keys", json={"user_id": "ci", "scopes": ["events:read"]})
    assert reply.status_code == 201, reply.text
    created = reply.json()["data"]
    assert created["key"].startswith("egk_") and created["scopes"] == ["events:read"] and created["active"]
    assert with_key(server, created["key"]).get("/events").status_code == 200
    listed = admin.get("/admin/keys").json()["data"]
    assert created["id"] in [k["id"] for k in listed]
    assert created["key"] not in json.dumps(listed)


def test_created_key_without_scopes_gets_every_scope_but_admin(admin):
    scopes = admin.post("/admin/keys", json={"user_id": "ci"}).json()["data"]["scopes"]
    assert "admin" not in scopes and "events:write" in scopes


def test_created_key_can_expire(admin):
    created = admin.post("/admin/keys", json={"user_id": "ci", "expires_in": 3600}).json()["data"]
    assert now_ms() / 1000 + 3500 < created["expires_at"] <= now_ms() / 1000 + 3600


def test_a_key_that_would_already_be_expired_is_400(admin):
    reply = admin.post("/admin/keys", json={"user_id": "ci", "expires_at": 1_000_000_000})
    assert reply.status_code == 400 and error_code(reply) == "expires_at_invalid"


@pytest.mark.parametrize("body, code", [
    ({}, "user_id_required"),
    ({"user_id": ""}, "user_id_invalid"),
    ({"user_id": "ci", "scopes": ["root"]}, "scopes_invalid"),
    ({"user_id": "ci", "scopes": []}, "scopes_invalid"),
    ({"user_id": "ci", "scopes": "admin"}, "scopes_invalid"),
    ({"user_id": "ci", "expires_in": 0}, "expires_in_invalid"),
    ({"user_id": "ci", "expires_in": "soon"}, "expires_in_invalid"),
    ({"user_id": "ci", "channel_ids": []}, "channel_ids_invalid"),
    ({"user_id": "ci", "role": "x"}, "unknown_field"),
])
def test_a_bad_key_request_is_400(admin, body, code):
    reply = admin.post("/admin/keys", json=body)
    assert reply.status_code == 400 and error_code(reply) == code


def test_a_key_cannot_be_restricted_to_another_workspaces_channel(server, admin):
    foreign = server.create_channel(workspace_id=server.create_workspace())
    reply = admin.post("/admin/keys", json={"user_id": "ci", "channel_ids": [foreign]})
    assert reply.status_code == 400 and error_code(reply) == "channel_ids_invalid"


def test_a_revoked_key_stops_working_at_once(server, admin):
    created = admin.post("/admin/keys", json={"user_id": "ci"}).json()["data"]
    user = with_key(server, created["key"])
    assert user.get("/events").status_code == 200
    assert admin.delete(f"/admin/keys/{created['id']}").status_code == 204
    assert user.get("/events").status_code == 401
    listed = {k["id"]: k for k in admin.get("/admin/keys").json()["data"]}
    assert listed[created["id"]]["active"] is False and listed[created["id"]]["revoked_at"] is not None


def test_revoking_an_unknown_key_is_404(admin):
    reply = admin.delete("/admin/keys/key_000000000000")
    assert reply.status_code == 404 and error_code(reply) == "key_not_found"


def test_a_key_of_another_workspace_cannot_be_revoked(server, admin):
    stranger_admin = with_key(server, server.create_key(("admin",), workspace_id=server.create_workspace()))
    created = stranger_admin.post("/admin/keys", json={"user_id": "theirs"}).json()["data"]
    assert admin.delete(f"/admin/keys/{created['id']}").status_code == 404
    assert with_key(server, created["key"]).get("/events").status_code == 200
    assert created["id"] not in [k["id"] for k in admin.get("/admin/keys").json()["data"]]


def test_admin_routes_need_a_key(client):
    for method, path in (("GET", "/admin/keys"), ("POST", "/admin/channels"), ("DELETE", "/admin/keys/k")):
        assert client.request(method, path).status_code == 401, path


def test_a_key_restricted_to_channels_cannot_manage_keys(server, workspace):
    channel = server.create_channel(workspace_id=workspace)
    restricted = with_key(server, server.create_key(("admin",), workspace_id=workspace, channels=(channel,)))
    reply = restricted.post("/admin/keys", json={"user_id": "escalate"})
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"


def test_admin_body_must_be_json(admin):
    reply = admin.post("/admin/keys", content="user_id=ci", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 415


# -- channels -----------------------------------------------------------------------------------


def test_channel_list_includes_the_default_channel(admin, workspace):
    channels = admin.get("/admin/channels").json()["data"]
    assert [(c["name"], c["is_default"], c["workspace_id"]) for c in channels] == [("default", True, workspace)]


def test_created_channel_with_a_generated_password_accepts_events(server, admin):
    reply = admin.post("/admin/channels", json={"name": "garage"})
    assert reply.status_code == 201, reply.text
    created = reply.json()["data"]
    assert len(created["channel_id"]) == 26 and len(created["password"]) >= 8
    assert produce(server, created["channel_id"], created["password"]).status_code == 200
    assert "password" not in json.dumps(admin.get("/admin/channels").json())


def test_created_channel_with_a_given_password_does_not_echo_it(server, admin):
    created = admin.post("/admin/channels", json={"name": "garage", "password": PASSWORD}).json()["data"]
    assert "password" not in created
    assert produce(server, created["channel_id"]).status_code == 200


@pytest.mark.parametrize("body, code", [
    ({}, "name_required"), ({"name": ""}, "name_invalid"), ({"name": "x" * 129}, "name_too_long"),
    ({"name": "x", "password": "short"}, "password_invalid"), ({"name": 5}, "name_invalid"),
])
def test_a_bad_channel_request_is_400(admin, body, code):
    reply = admin.post("/admin/channels", json=body)
    assert reply.status_code == 400 and error_code(reply) == code


def test_rename_channel(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace, name="old")
    reply = admin.patch(f"/admin/channels/{channel}", json={"name": "new"})
    assert reply.status_code == 200 and reply.json()["data"]["name"] == "new"
    assert "new" in [c["name"] for c in admin.get("/admin/channels").json()["data"]]


def test_a_channel_of_another_workspace_is_404_to_every_admin_route(server, admin):
    foreign = server.create_channel(workspace_id=server.create_workspace())
    for method, path, body in (("PATCH", "", {"name": "mine"}), ("DELETE", "", None),
                               ("POST", "/rotate-password", {"password": "taken-over-pw"})):
        reply = admin.request(method, f"/admin/channels/{foreign}{path}", json=body)
        assert reply.status_code == 404 and error_code(reply) == "channel_not_found", (method, path)
    assert produce(server, foreign).status_code == 200


def test_rotating_generates_a_password_and_the_old_one_stops_at_once(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    assert produce(server, channel).status_code == 200  # the old password is now verified and cached
    reply = admin.post(f"/admin/channels/{channel}/rotate-password")
    assert reply.status_code == 200, reply.text
    new_password = reply.json()["data"]["password"]
    old = produce(server, channel)
    assert old.status_code == 403 and error_code(old) == "password_mismatch"
    assert produce(server, channel, new_password).status_code == 200


def test_rotating_to_a_given_password(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    reply = admin.post(f"/admin/channels/{channel}/rotate-password", json={"password": "the-new-password"})
    assert reply.status_code == 200 and "password" not in reply.json()["data"]
    assert produce(server, channel, "the-new-password").status_code == 200
    assert produce(server, channel).status_code == 403


def test_rotating_to_a_too_short_password_is_400_and_changes_nothing(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    reply = admin.post(f"/admin/channels/{channel}/rotate-password", json={"password": "short"})
    assert reply.status_code == 400 and error_code(reply) == "password_invalid"
    assert produce(server, channel).status_code == 200


def test_deleting_a_channel_stops_its_producers_and_keeps_its_events(server, admin, workspace):
    channel = server.create_channel(workspace_id=workspace)
    event_id = produce(server, channel).json()["data"]["event_id"]
    assert admin.delete(f"/admin/channels/{channel}").status_code == 204
    reply = produce(server, channel)
    assert reply.status_code == 404 and error_code(reply) == "channel_not_found"
    assert admin.get(f"/events/{event_id}").status_code == 200
    assert channel not in [c["channel_id"] for c in admin.get("/admin/channels").json()["data"]]


def test_the_default_channel_cannot_be_deleted(admin):
    default = admin.get("/admin/channels").json()["data"][0]["channel_id"]
    reply = admin.delete(f"/admin/channels/{default}")
    assert reply.status_code == 409 and error_code(reply) == "default_channel"


def test_deleting_an_unknown_channel_is_404(admin):
    reply = admin.delete(f"/admin/channels/{new_channel_id()}")
    assert reply.status_code == 404 and error_code(reply) == "channel_not_found"


def test_a_restricted_admin_key_manages_only_its_channels(server, workspace):
    mine = server.create_channel(workspace_id=workspace)
    other = server.create_channel(workspace_id=workspace)
    restricted = with_key(server, server.create_key(("admin",), workspace_id=workspace, channels=(mine,)))
    assert [c["channel_id"] for c in restricted.get("/admin/channels").json()["data"]] == [mine]
    assert restricted.patch(f"/admin/channels/{mine}", json={"name": "renamed"}).status_code == 200
    reply = restricted.patch(f"/admin/channels/{other}", json={"name": "renamed"})
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"
    assert restricted.post("/admin/channels", json={"name": "new"}).status_code == 403


# -- the command line ---------------------------------------------------------------------------


def eventgate(server, *args):
    result = subprocess.run([sys.executable, "-m", "eventgate", *args, "--database-url", server.settings.database_url],
                            capture_output=True, text=True, timeout=120)
    return result


def test_cli_key_list_shows_keys_without_secrets_and_revoke_stops_one(server, admin):
    created = admin.post("/admin/keys", json={"user_id": "cli-user"}).json()["data"]
    workspace = admin.get("/admin/channels").json()["data"][0]["workspace_id"]
    listed = eventgate(server, "key", "list", "--workspace", workspace, "--json")
    assert listed.returncode == 0, listed.stderr
    keys = json.loads(listed.stdout)["keys"]
    assert created["id"] in [k["id"] for k in keys] and created["key"] not in listed.stdout
    revoked = eventgate(server, "key", "revoke", created["id"], "--workspace", workspace)
    assert revoked.returncode == 0, revoked.stderr
    assert with_key(server, created["key"]).get("/events").status_code == 401
    assert created["id"] not in eventgate(server, "key", "list", "--workspace", workspace).stdout
    assert created["id"] in eventgate(server, "key", "list", "--all", "--workspace", workspace).stdout


def test_cli_revoking_an_unknown_key_fails_cleanly(server):
    result = eventgate(server, "key", "revoke", "key_000000000000")
    assert result.returncode == 1 and "key_000000000000" in result.stderr


def test_cli_channel_list(server, workspace):
    channel = server.create_channel(workspace_id=workspace, name="porch")
    result = eventgate(server, "channel", "list", "--workspace", workspace)
    assert result.returncode == 0, result.stderr
    assert channel in result.stdout and "porch" in result.stdout and "default" in result.stdout


def test_cli_rotate_password_prints_a_new_one_and_the_server_refuses_the_old(server, workspace):
    channel = server.create_channel(workspace_id=workspace)
    assert produce(server, channel).status_code == 200
    result = eventgate(server, "channel", "rotate-password", channel, "--workspace", workspace, "--json")
    assert result.returncode == 0, result.stderr
    new_password = json.loads(result.stdout)["password"]
    assert produce(server, channel).status_code == 403
    assert produce(server, channel, new_password).status_code == 200


def test_cli_channel_delete(server, workspace):
    channel = server.create_channel(workspace_id=workspace)
    result = eventgate(server, "channel", "delete", channel, "--yes", "--workspace", workspace)
    assert result.returncode == 0, result.stderr
    assert produce(server, channel).status_code == 404


def test_cli_channel_delete_refuses_the_default_channel(server, admin):
    default = admin.get("/admin/channels").json()["data"][0]
    result = eventgate(server, "channel", "delete", default["channel_id"], "--yes",
                       "--workspace", default["workspace_id"])
    assert result.returncode == 1 and "default" in result.stderr


def test_admin_ids_that_cannot_exist_are_404(admin):
    for method, path in (("DELETE", "/admin/keys/a%00b"), ("PATCH", "/admin/channels/a%00b"),
                         ("DELETE", "/admin/channels/" + "C" * 100),
                         ("POST", "/admin/channels/a%20b/rotate-password")):
        reply = admin.request(method, path, json={"name": "x"} if method == "PATCH" else None)
        assert reply.status_code == 404, (method, path, reply.text)


def test_nul_characters_in_an_admin_body_are_400(admin):
    reply = admin.post("/admin/channels", json={"name": "a\u0000b"})
    assert reply.status_code == 400 and error_code(reply) == "name_invalid"
