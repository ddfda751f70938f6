"""Channel tokens (SPEC §9): created, listed and revoked by the CLI and the admin API, shown
once, stored only as a hash, usable only on the intake routes."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from eventgate.auth.channel_tokens import hash_channel_token
from eventgate.service.channel_tokens import ChannelTokenDirectory
from eventgate.store.schema import channel_tokens
from tests.conftest import PASSWORD
from tests.helpers import body_form, error_code

TOKEN = re.compile(r"[a-z0-9]{32}")


def eventgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eventgate", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def admin(server, workspace):
    return server.client(headers={"Authorization": f"Bearer {server.create_key(('admin',), workspace_id=workspace)}"})


@pytest.fixture
def own_channel(server, workspace):
    return server.create_channel(workspace_id=workspace, name="garage")


def stored_rows(database, channel_id):
    with database.reader.connect() as connection:
        return connection.execute(sa.select(channel_tokens).where(channel_tokens.c.channel_id == channel_id)).all()


def find(database, plain):
    return asyncio.run(ChannelTokenDirectory(database).find(plain))


# -- admin API -----------------------------------------------------------------------------------


def test_created_token_is_shown_once_and_listed_without_it(admin, own_channel):
    reply = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "backup script"})
    assert reply.status_code == 201, reply.text
    created = reply.json()["data"]
    assert TOKEN.fullmatch(created["token"]) and created["name"] == "backup script" and created["active"]
    assert created["channel_id"] == own_channel and isinstance(created["id"], int)
    listed = admin.get(f"/admin/channels/{own_channel}/tokens")
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()["data"]] == [created["id"]]
    assert created["token"] not in listed.text


def test_only_the_hash_of_a_token_is_stored(server, admin, own_channel):
    plain = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).json()["data"]["token"]
    [row] = stored_rows(server.database, own_channel)
    assert row.token_hash == hash_channel_token(plain)
    assert plain not in json.dumps([str(value) for value in row])


def test_revoked_token_is_listed_inactive_and_found_no_more(server, admin, own_channel):
    created = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).json()["data"]
    assert find(server.database, created["token"]).channel_id == own_channel
    reply = admin.delete(f"/admin/channels/{own_channel}/tokens/{created['id']}")
    assert reply.status_code == 204
    assert find(server.database, created["token"]) is None
    [listed] = admin.get(f"/admin/channels/{own_channel}/tokens").json()["data"]
    assert listed["active"] is False and listed["revoked_at"] is not None
    again = admin.delete(f"/admin/channels/{own_channel}/tokens/{created['id']}")
    assert again.status_code == 404 and error_code(again) == "token_not_found"


def test_a_revocation_is_seen_at_once_by_the_revoking_process_even_when_cached(server, admin, own_channel):
    directory = ChannelTokenDirectory(server.database)
    created = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).json()["data"]

    async def scenario():
        assert await directory.find(created["token"]) is not None  # now cached
        with server.database.writer.begin() as connection:
            connection.execute(sa.update(channel_tokens).values(revoked_at=1).where(
                channel_tokens.c.id == created["id"]))
        directory.forget(created["id"])
        return await directory.find(created["token"])

    assert asyncio.run(scenario()) is None


def test_a_token_of_a_deleted_channel_is_found_no_more(server, admin, own_channel):
    plain = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).json()["data"]["token"]
    assert admin.delete(f"/admin/channels/{own_channel}").status_code == 204
    assert find(server.database, plain) is None


def test_a_token_of_another_channel_cannot_be_revoked_through_this_one(server, admin, workspace, own_channel):
    other = server.create_channel(workspace_id=workspace, name="other")
    created = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).json()["data"]
    reply = admin.delete(f"/admin/channels/{other}/tokens/{created['id']}")
    assert reply.status_code == 404
    assert find(server.database, created["token"]) is not None


def test_another_workspaces_channel_has_no_tokens_here(server, admin):
    foreign = server.create_channel(workspace_id=server.create_workspace())
    reply = admin.post(f"/admin/channels/{foreign}/tokens", json={"name": "ci"})
    assert reply.status_code == 404 and error_code(reply) == "channel_not_found"


@pytest.mark.parametrize("body, code", [
    ({}, "name_required"),
    ({"name": ""}, "name_invalid"),
    ({"name": "x" * 129}, "name_too_long"),
    ({"name": "ci", "channel_id": "x"}, "unknown_field"),
])
def test_a_bad_token_request_is_400(admin, own_channel, body, code):
    reply = admin.post(f"/admin/channels/{own_channel}/tokens", json=body)
    assert reply.status_code == 400 and error_code(reply) == code


@pytest.mark.parametrize("token_id", ["abc", "-1", "9" * 40])
def test_revoking_a_token_id_that_cannot_exist_is_404(admin, own_channel, token_id):
    reply = admin.delete(f"/admin/channels/{own_channel}/tokens/{token_id}")
    assert reply.status_code == 404 and error_code(reply) == "token_not_found"


def test_token_routes_need_the_admin_scope(server, workspace, own_channel):
    writer = server.client(headers={"Authorization": f"Bearer {server.create_key(workspace_id=workspace)}"})
    assert writer.get(f"/admin/channels/{own_channel}/tokens").status_code == 403
    assert server.client().post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).status_code == 401


def test_a_restricted_admin_key_manages_tokens_of_its_channels_only(server, workspace, own_channel):
    other = server.create_channel(workspace_id=workspace, name="other")
    key = server.create_key(("admin",), workspace_id=workspace, channels=(own_channel,))
    restricted = server.client(headers={"Authorization": f"Bearer {key}"})
    assert restricted.post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).status_code == 201
    assert restricted.post(f"/admin/channels/{other}/tokens", json={"name": "ci"}).status_code == 403


# -- a token is not a channel password nor an API key -------------------------------------------


def test_a_token_is_not_an_api_key(server, admin, own_channel):
    plain = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).json()["data"]["token"]
    reply = server.client(headers={"Authorization": f"Bearer {plain}"}).get("/events")
    assert reply.status_code == 401


def test_a_token_is_not_a_channel_password(server, admin, own_channel):
    plain = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).json()["data"]["token"]
    reply = server.client().post("/event/create", json=body_form(own_channel, password=plain))
    assert reply.status_code == 403 and error_code(reply) == "password_mismatch"
    assert server.client().post("/event/create", json=body_form(own_channel, password=PASSWORD)).status_code == 200


# -- command line --------------------------------------------------------------------------------


@pytest.fixture
def cli_channel_named(migrated_database, database_url):
    name = f"garage-{secrets.token_hex(4)}"
    result = eventgate("channel", "create", "--name", name, "--password", "open-sesame",
                       "--database-url", database_url, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["channel_id"], name


@pytest.fixture
def cli_channel(cli_channel_named):
    return cli_channel_named[0]


def test_cli_creates_lists_and_revokes_a_token(database_url, migrated_database, cli_channel):
    created = eventgate("channel", "token", "create", cli_channel, "--name", "nas", "--database-url", database_url,
                        "--json")
    assert created.returncode == 0, created.stderr
    payload = json.loads(created.stdout)
    assert TOKEN.fullmatch(payload["token"]) and payload["channel_id"] == cli_channel and payload["name"] == "nas"
    assert find(migrated_database, payload["token"]) is not None

    listed = eventgate("channel", "token", "list", cli_channel, "--database-url", database_url, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [t["id"] for t in json.loads(listed.stdout)["tokens"]] == [payload["id"]]
    assert payload["token"] not in listed.stdout

    revoked = eventgate("channel", "token", "revoke", str(payload["id"]), "--database-url", database_url)
    assert revoked.returncode == 0, revoked.stderr
    assert find(migrated_database, payload["token"]) is None
    again = eventgate("channel", "token", "revoke", str(payload["id"]), "--database-url", database_url)
    assert again.returncode == 1 and "no active channel token" in again.stderr


def test_cli_prints_only_the_token_without_json(database_url, migrated_database, cli_channel):
    created = eventgate("channel", "token", "create", cli_channel, "--name", "nas", "--database-url", database_url)
    assert created.returncode == 0, created.stderr
    assert TOKEN.fullmatch(created.stdout.strip())
    assert "not shown again" in created.stderr


def test_cli_names_a_channel_by_its_name_too(database_url, migrated_database, cli_channel_named):
    channel_id, name = cli_channel_named
    listed = eventgate("channel", "token", "list", name, "--database-url", database_url, "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"channel_id": channel_id, "tokens": []}


def test_cli_refuses_an_unknown_channel(database_url, migrated_database):
    result = eventgate("channel", "token", "create", "no-such-channel", "--name", "x", "--database-url", database_url)
    assert result.returncode == 2 and "no channel 'no-such-channel'" in result.stderr


# -- on the intake routes, across processes ------------------------------------------------------


def test_a_token_revoked_by_another_process_stops_working_there_soon(server, server_factory, admin, own_channel):
    """Another server process (here another app on the same database) holds a found token for at
    most a second: after a revocation elsewhere, its requests are refused shortly."""
    other_process = server_factory()
    plain = admin.post(f"/admin/channels/{own_channel}/tokens", json={"name": "ci"}).json()["data"]
    sender = other_process.client(headers={"X-Gotify-Key": plain["token"]})
    assert sender.post("/message", json={"message": "cached now"}).status_code == 200
    assert admin.delete(f"/admin/channels/{own_channel}/tokens/{plain['id']}").status_code == 204
    deadline = time.monotonic() + 30
    while (reply := sender.post("/message", json={"message": "after"})).status_code == 200:
        assert time.monotonic() < deadline, "the revoked token still works in the other process"
        time.sleep(0.1)
    assert reply.status_code == 401
