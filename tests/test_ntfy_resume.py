"""An ntfy subscriber loses nothing when the server dies: killed with SIGKILL while a `/json`
stream is open and producers write, restarted on the same database, the subscriber reconnects
with `since=<last message id>` and receives every operation exactly once."""

from __future__ import annotations

import json
import secrets
import threading
import time

import httpx

from eventgate.auth.passwords import hash_password
from eventgate.store.channels import create_channel
from eventgate.store.database import migrate, open_database
from eventgate.store.keys import create_key
from eventgate.store.workspaces import create_workspace
from tests.conftest import PASSWORD
from tests.helpers import body_form
from tests.live_client import ServeProcess
from tests.ntfy_client import NtfyStream


def _setup(database_url: str) -> tuple[str, str]:
    database = open_database(database_url)
    try:
        migrate(database)
        with database.writer.begin() as connection:
            workspace_id = create_workspace(connection, f"ntfy-resume-{secrets.token_hex(4)}").id
            channel_id = create_channel(connection, workspace_id, "phones", hash_password(PASSWORD)).id
            key, _ = create_key(connection, workspace_id, "phone", ("subscribe",))
    finally:
        database.dispose()
    return channel_id, key


def _produce(base_url: str, channel_id: str, stop: threading.Event, acknowledged: list[str]) -> None:
    """Create events until told to stop, through restarts (refused writes are retried later)."""
    with httpx.Client(base_url=base_url, timeout=5) as client:
        number = 0
        while not stop.is_set():
            try:
                reply = client.post("/event/create", json=body_form(channel_id, message=f"m{number}"))
                if reply.status_code == 200:
                    acknowledged.append(reply.json()["data"]["event_id"])
                    number += 1
            except httpx.HTTPError:
                time.sleep(0.05)
            time.sleep(0.01)


def test_a_json_subscriber_resumes_exactly_after_kill_9(database_url, tmp_path):
    channel_id, key = _setup(database_url)
    server = ServeProcess(database_url, log_path=tmp_path / "serve.log").start()
    headers = {"Authorization": f"Bearer {key}"}
    stop, acknowledged = threading.Event(), []
    producer = threading.Thread(target=_produce, args=(server.base_url, channel_id, stop, acknowledged))
    received: list[dict] = []
    try:
        stream = NtfyStream(server.base_url, f"/{channel_id}/json", headers=headers)
        assert stream.event()["event"] == "open"
        producer.start()
        while len(received) < 20:
            received += stream.messages(1)
        server.kill()  # mid-stream, mid-load
        try:  # what was already on its way before the kill still counts
            while True:
                received += stream.messages(1, timeout=2)
        except AssertionError:
            pass
        stream.close()
        server.start()
        before_restart = len(acknowledged)
        deadline = time.monotonic() + 60
        while len(acknowledged) < before_restart + 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        with NtfyStream(server.base_url, f"/{channel_id}/json", headers=headers,
                        params={"since": received[-1]["id"]}) as resumed:
            assert resumed.event()["event"] == "open"
            stop.set()
            producer.join(30)
            stored = httpx.get(f"{server.base_url}/{channel_id}/json", params={"poll": "1", "since": "all"},
                               headers=headers, timeout=30)
            assert stored.status_code == 200, stored.text
            every = stored.text.splitlines()
            while len(received) < len(every):
                received += resumed.messages(1)
    finally:
        stop.set()
        server.stop()
    every_message = [json.loads(line) for line in every]
    assert [m["id"] for m in received] == [m["id"] for m in every_message], "a gap or a duplicate"
    assert set(acknowledged) <= {m["sequence_id"] for m in every_message}, "an acknowledged write is missing"
    assert len(every_message) >= len(acknowledged) >= 40
