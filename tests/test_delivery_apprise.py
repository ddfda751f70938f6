"""Apprise destinations (SPEC §10): operations really sent by the Apprise library, to a real
receiver (Apprise's JSON service) and to eventgate's own ntfy intake, with a bad Apprise URL
recorded as refused while the other destinations go on.

The server of this module runs on a database of its own with --public-url set, so that no
other test server's dispatcher takes its destinations over."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from eventgate.config import Settings
from eventgate.domain.destinations import parse_filter
from eventgate.store.destinations import create_destination
from tests.conftest import _backends, fresh_database_url, start_server
from tests.intake import intake_channel
from tests.live_client import close, create
from tests.webhook_receiver import attempts

PUBLIC_URL = "https://events.example.org/"


@pytest.fixture(scope="module", params=_backends())
def apprise_server(request, tmp_path_factory):
    databases = fresh_database_url(request.param, tmp_path_factory)
    running = start_server(Settings(database_url=next(databases), public_url=PUBLIC_URL))
    try:
        yield running
    finally:
        running.stop()
        databases.close()




def add_apprise(server, workspace_id: str, url: str, name: str = "apprise", **filter_fields):
    with server.database.writer.begin() as connection:
        return create_destination(connection, workspace_id, name=name, kind="apprise", url=url,
                                  filter=parse_filter(filter_fields or None), secret=None)




def source(server) -> tuple[str, str]:
    workspace_id = server.create_workspace()
    return workspace_id, server.create_channel(workspace_id=workspace_id)


def test_apprise_json_reaches_a_real_receiver_with_title_message_and_link(apprise_server, receiver):
    workspace_id, channel = source(apprise_server)
    url = receiver.url.replace("http://", "json://") + "/apprise/in"
    destination = add_apprise(apprise_server, workspace_id, url)
    client = apprise_server.client()
    event_id = create(client, channel, title="Disk full", message="98 % on /srv", severity="high")
    [request] = receiver.wait_for(1)
    assert request.path == receiver.prefix + "/apprise/in"
    body = request.json()
    assert body["title"] == "[HIGH] Disk full"
    message, acknowledge, close_link = body["message"].rsplit("\n", 2)
    assert message == f"98 % on /srv\nhttps://events.example.org/#/events/{event_id}"
    # The one-tap links of an ongoing event (tests/test_action_links.py follows them).
    assert acknowledge.startswith("Acknowledge: https://events.example.org/act/")
    assert close_link.startswith("Close: https://events.example.org/act/")
    [attempt] = attempts(apprise_server, destination.id)
    assert (attempt.outcome, attempt.seq, attempt.event_id) == ("delivered", attempt.seq, event_id)
    assert attempt.webhook_id == f"msg_{destination.id}_{attempt.seq}"

    close(client, channel, event_id, status="resolved")
    second = receiver.wait_for(2)[1].json()
    assert second["title"] == "[HIGH] Disk full"
    assert "closed" in second["message"] and second["message"].endswith(f"/#/events/{event_id}")


def test_apprise_ntfy_into_eventgates_own_intake_arrives_as_an_event(apprise_server):
    # The ntfy channel is in a workspace of its own: the event it makes is not the source
    # workspace's, so it is never sent on again.
    intake = intake_channel(apprise_server)
    parts = urlsplit(apprise_server.base_url)
    workspace_id, channel = source(apprise_server)
    destination = add_apprise(apprise_server, workspace_id,
                              f"ntfy://{intake.token}@{parts.hostname}:{parts.port}/{intake.channel_id}")
    event_id = create(apprise_server.client(), channel, title="Door open", message="back door", severity="critical")
    [attempt] = attempts(apprise_server, destination.id)
    assert attempt.outcome == "delivered", attempt
    event = intake.only_event()
    assert event["title"] == "[CRITICAL] Door open"
    assert event["message"].startswith(f"back door\nhttps://events.example.org/#/events/{event_id}\nAcknowledge: ")
    assert event["event_type"] == "ntfy" and event["state"] == "closed"


def test_apprise_ntfy_into_the_same_workspace_with_a_filter_does_not_loop(apprise_server):
    # Source and intake channel in one workspace: the destination only wants door_open events,
    # so the ntfy event it makes (event_type ntfy) is not sent again.
    intake = intake_channel(apprise_server)
    parts = urlsplit(apprise_server.base_url)
    destination = add_apprise(apprise_server, intake.workspace_id,
                              f"ntfy://{intake.token}@{parts.hostname}:{parts.port}/{intake.channel_id}",
                              event_types=["door_open"])
    source_channel = apprise_server.create_channel(workspace_id=intake.workspace_id, name="doors")
    reply = apprise_server.client().post(f"/v1/channel/{source_channel}/event/create", json={
        "password": "correct-horse-battery", "event_type": "door_open", "title": "Front door", "severity": "high"})
    assert reply.status_code == 200, reply.text
    [attempt] = attempts(apprise_server, destination.id)
    assert attempt.outcome == "delivered", attempt
    time.sleep(1.5)  # several dispatch rounds: a loop would have sent the ntfy event on by now
    assert len(attempts(apprise_server, destination.id, at_least=2, timeout=0)) == 1
    [event] = intake.events()
    assert event["title"] == "[HIGH] Front door" and event["event_type"] == "ntfy"


def test_a_bad_apprise_url_is_refused_and_the_other_destinations_go_on(apprise_server, receiver):
    workspace_id, channel = source(apprise_server)
    bad = add_apprise(apprise_server, workspace_id, "nonsense://x", name="bad")
    good = add_apprise(apprise_server, workspace_id, receiver.url.replace("http://", "json://"), name="good")
    client = apprise_server.client()
    first = create(client, channel, title="one", severity="low")
    second = create(client, channel, title="two", severity="normal")
    requests = receiver.wait_for(2)
    assert sorted(r.json()["title"] for r in requests) == ["[LOW] one", "[NORMAL] two"]
    assert [a.outcome for a in attempts(apprise_server, good.id, at_least=2)] == ["delivered"] * 2
    refused = attempts(apprise_server, bad.id, at_least=2)
    assert {a.event_id for a in refused} == {first, second}
    assert all(a.outcome == "refused" and "Apprise" in (a.error or "") for a in refused)
