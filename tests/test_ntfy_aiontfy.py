"""A real ntfy client against eventgate: aiontfy (the library of Home Assistant's ntfy
integration), pinned, in an environment of its own (tests/aiontfy_venv.py), run as a
subprocess against a live server."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.aiontfy_venv import NoPython312, aiontfy_python
from tests.intake import intake_channel
from tests.live_client import close, create, update

CLIENT = Path(__file__).with_name("aiontfy_client.py")


@pytest.fixture(scope="module")
def aiontfy() -> Path:
    try:
        return aiontfy_python()
    except NoPython312 as error:
        if os.environ.get("CI") == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))


class Client:
    """aiontfy_client.py running; its JSON lines as they come."""

    def __init__(self, python: Path, *args: str) -> None:
        self.process = subprocess.Popen([str(python), str(CLIENT), *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout: float = 60) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        if line is None:
            self.process.wait(10)
            raise AssertionError(f"the client ended: {self.process.stderr.read() if self.process.stderr else ''}")
        return json.loads(line)

    def finish(self) -> int:
        try:
            return self.process.wait(60)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def test_aiontfy_subscribes_over_websocket_and_gets_an_events_lifecycle(server, aiontfy):
    home = intake_channel(server)
    key = server.create_key(workspace_id=home.workspace_id, user="ha")
    client = Client(aiontfy, "subscribe", server.base_url, home.channel_id, "--user", "homeassistant",
                    "--password", key)
    try:
        assert client.next() == {"can_subscribe": True}
        assert client.next()["event"] == "open"
        producer = server.client()
        event_id = create(producer, home.channel_id, title="Boiler", message="too hot", severity="critical")
        update(producer, home.channel_id, event_id, message="cooling", severity="high")
        close(producer, home.channel_id, event_id, message="normal again", severity="low")
        messages = []
        while len(messages) < 3:
            seen = client.next()
            if seen["event"] == "message":
                messages.append(seen)
        assert client.finish() == 0
    finally:
        if client.process.poll() is None:
            client.process.kill()
    assert [m["sequence_id"] for m in messages] == [event_id] * 3
    assert [m["priority"] for m in messages] == [5, 4, 2]
    assert [m["message"] for m in messages] == ["too hot", "cooling", "normal again"]
    assert messages[2]["title"] == "Closed: Boiler" and all(m["topic"] == home.channel_id for m in messages)


def test_aiontfy_is_refused_a_wrong_key_with_ntfys_401(server, aiontfy):
    home = intake_channel(server)
    client = Client(aiontfy, "check", server.base_url, home.channel_id, "--token", "egk_not_a_key")
    refused = client.next()
    assert client.finish() == 0
    assert refused["refused"] == "NtfyUnauthorizedAuthenticationError"
    assert (refused["code"], refused["http"]) == (40101, 401)


def test_aiontfy_with_a_channel_token_may_subscribe_to_its_channel(server, aiontfy):
    home = intake_channel(server)
    client = Client(aiontfy, "check", server.base_url, home.name, "--token", home.token)
    assert client.next() == {"can_subscribe": True}
    assert client.finish() == 0


def test_aiontfy_adds_the_server_as_home_assistant_does(server, aiontfy):
    home = intake_channel(server)
    key = server.create_key(workspace_id=home.workspace_id, user="ha")
    client = Client(aiontfy, "account", server.base_url, "-", "--user", "homeassistant", "--password", key)
    seen = client.next()
    assert client.finish() == 0
    assert seen == {"username": "ha", "token": key}
