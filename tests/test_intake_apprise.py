"""Real clients: Apprise's Gotify and ntfy plugins, pointed at eventgate by changing the URL
and the token only (SPEC §9), deliver closed events with title, body, severity and tags."""

from __future__ import annotations

from urllib.parse import urlsplit

import apprise
import pytest

from tests.intake import intake_channel


@pytest.fixture
def intake(server):
    return intake_channel(server)


@pytest.fixture
def address(server):
    parts = urlsplit(server.base_url)
    return f"{parts.hostname}:{parts.port}"


def notify(url: str, **message: str) -> bool:
    sender = apprise.Apprise()
    assert sender.add(url), f"Apprise refused the URL {url}"
    return sender.notify(**message)


def test_apprise_gotify_delivers_a_closed_event(address, intake):
    assert notify(f"gotify://{address}/{intake.token}", title="Backup", body="Backup of nas finished")
    event = intake.only_event()
    assert (event["title"], event["message"]) == ("Backup", "Backup of nas finished")
    assert event["state"] == "closed" and event["started_at"] == event["ended_at"]
    assert event["event_type"] == "gotify" and event["severity"] == "high"  # Apprise's default priority is 5


@pytest.mark.parametrize("priority, severity", [
    ("low", "low"), ("moderate", "normal"), ("normal", "high"), ("high", "critical"), ("emergency", "critical"),
])
def test_apprise_gotify_priorities_map_to_severity(address, intake, priority, severity):
    assert notify(f"gotify://{address}/{intake.token}?priority={priority}", title="t", body="b")
    assert intake.only_event()["severity"] == severity


def test_apprise_gotify_markdown_keeps_the_display_hint(address, intake):
    assert notify(f"gotify://{address}/{intake.token}?format=markdown", title="t", body="**b**")
    assert intake.only_event()["attrs"]["client::display"] == {"contentType": "text/markdown"}


def test_apprise_gotify_with_a_wrong_token_fails(address, intake):
    assert not notify(f"gotify://{address}/{'x' * 32}", title="t", body="b")
    assert intake.events() == []


def test_apprise_ntfy_with_the_token_as_user_delivers_a_closed_event(address, intake):
    # Apprise takes a user that does not start with tk_ for Basic auth and sends "<token>:None":
    # eventgate then reads the token from the user name.
    url = f"ntfy://{intake.token}@{address}/{intake.channel_id}?priority=max&tags=disk,backup"
    assert notify(url, title="Disk", body="Disk almost full")
    event = intake.only_event()
    assert (event["title"], event["message"], event["severity"]) == ("Disk", "Disk almost full", "critical")
    assert sorted(event["tags"]) == ["backup", "disk"]  # Apprise sends its tags in an order of its own
    assert event["state"] == "closed" and event["event_type"] == "ntfy"


def test_apprise_ntfy_with_the_token_in_the_query_and_the_channel_name_as_topic(address, intake):
    assert notify(f"ntfy://{address}/{intake.name}?token={intake.token}&priority=low", title="t", body="by name")
    event = intake.only_event()
    assert event["message"] == "by name" and event["severity"] == "low"


@pytest.mark.parametrize("priority, severity", [
    ("min", "low"), ("low", "low"), ("default", "normal"), ("high", "high"), ("max", "critical"),
])
def test_apprise_ntfy_priorities_map_to_severity(address, intake, priority, severity):
    assert notify(f"ntfy://{intake.token}@{address}/{intake.channel_id}?priority={priority}", title="t", body="b")
    assert intake.only_event()["severity"] == severity


def test_apprise_ntfy_to_another_channel_fails(server, address, intake):
    other = server.create_channel(workspace_id=intake.workspace_id, name="elsewhere")
    assert not notify(f"ntfy://{intake.token}@{address}/{other}", title="t", body="b")
    assert intake.events() == []
