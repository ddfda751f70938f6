"""The curl examples of seeds 000 and 001, run verbatim with the real curl (host replaced)."""

from __future__ import annotations

import json

from tests.conftest import PASSWORD  # noqa: F401  (the seeds bring their own passwords)
from tests.seed_commands import curl_commands, run_curl, seed_text


def test_seed_000_examples_run_verbatim(server):
    commands = curl_commands(seed_text("000"))
    assert len(commands) == 3, commands
    channel = server.create_channel("your_password")
    create, update, close = (c.replace("https://api.pushgo.io", server.base_url).replace("ABC123XYZ", channel)
                             for c in commands)
    status, body = run_curl(create)
    assert status == 200, body
    event_id = json.loads(body)["event_id"]
    for command in (update, close):
        status, body = run_curl(command.replace("PREVIOUSLY_CREATED_ID", event_id))
        assert status == 200, body
        assert json.loads(body) == {"event_id": event_id}
    key = server.create_key(("events:read",))
    event = server.client().get(f"/events/{event_id}", headers={"X-Api-Key": key}).json()["data"]
    assert event["state"] == "closed"
    assert event["attrs"] == {"still_open": True}
    assert event["started_at"] == 1672531200 and event["ended_at"] == 1672534800
    assert event["severity"] == "high" and event["event_type"] == "door_open"


def test_seed_001_example_runs_verbatim(server):
    commands = curl_commands(seed_text("001"))
    assert len(commands) == 1, commands
    # The seed names its channel; give this test database a channel with exactly that id.
    from eventgate.auth.passwords import hash_password
    from eventgate.store.schema import channels

    with server.database.writer.begin() as connection:
        exists = connection.execute(channels.select().where(channels.c.id == "06J0FZG1Y8XGG14VTQ4Y3G10MR")).first()
        if exists is None:
            connection.execute(channels.insert().values(
                id="06J0FZG1Y8XGG14VTQ4Y3G10MR", workspace_id="default", name="seed", is_default=False,
                password_hash=hash_password("pass-1234"), created_at=0, password_changed_at=0))
    status, body = run_curl(commands[0].replace("https://gateway.pushgo.dev", server.base_url))
    assert status == 200, body
    reply = json.loads(body)
    assert reply["success"] is True and reply["error"] is None and reply["error_code"] is None
    assert reply["data"]["channel_id"] == "06J0FZG1Y8XGG14VTQ4Y3G10MR"
    assert reply["data"]["thing_id"] is None and reply["data"]["accepted"] is True
