"""One-tap links (SPEC §11): a notification's acknowledge and close links work without signing
in; a GET only shows what the link does, a POST acts, recorded as "via link"."""

from __future__ import annotations

import time

import httpx
import pytest

from eventgate.config import Settings
from eventgate.domain.action_links import LinkGrant, make_token
from eventgate.domain.destinations import parse_filter
from eventgate.store.destinations import create_destination
from eventgate.store.server_secrets import action_link_secret
from tests.conftest import start_server
from tests.webhook_receiver import start_receiver


@pytest.fixture
def event_id(api):
    reply = api.post("/events", json={"title": "Disk full", "subtitle": "on nas", "topics": ["storage"]})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def link(server, workspace, event_id, action, expires_in=3600):
    with server.database.reader.connect() as connection:
        secret = action_link_secret(connection)
    return "/act/" + make_token(secret, LinkGrant(workspace, event_id, action, int(time.time()) + expires_in))


def test_opening_a_link_only_shows_what_it_will_do(server, api, workspace, event_id):
    page = server.client().get(link(server, workspace, event_id, "acknowledge"))
    assert page.status_code == 200 and "Acknowledge this event?" in page.text and "Disk full" in page.text
    assert '<form method="post"' in page.text and "<script" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert len(api.get(f"/events/{event_id}/timeline").json()["data"]) == 1  # nothing happened


def test_posting_an_acknowledge_link_acknowledges_via_link(server, api, workspace, event_id):
    reply = server.client().post(link(server, workspace, event_id, "acknowledge"))
    assert reply.status_code == 200 and "Event acknowledged" in reply.text
    event = api.get(f"/events/{event_id}").json()["data"]
    assert event["acknowledged_by"] == "via link" and event["state"] == "ongoing"
    assert api.get(f"/events/{event_id}/timeline").json()["data"][-1]["fields"] == {"acknowledged": True,
                                                                                   "by": "via link"}


def test_a_close_link_closes_once(server, api, workspace, event_id):
    url = link(server, workspace, event_id, "close")
    client = server.client()
    assert client.post(url).status_code == 200
    assert api.get(f"/events/{event_id}").json()["data"]["state"] == "closed"
    again = client.post(url)
    assert again.status_code == 409 and "already closed" in again.text
    assert "already closed" in client.get(url).text


def test_a_forged_or_expired_link_does_nothing(server, api, workspace, event_id):
    client = server.client()
    good = link(server, workspace, event_id, "close")
    payload, signature = good.removeprefix("/act/").split(".")
    forged = make_token(b"x" * 32, LinkGrant(workspace, event_id, "close", int(time.time()) + 3600))
    for url in (f"/act/{payload}.{signature[:-2]}AA", f"/act/{forged}", "/act/nonsense", "/act/a.b.c"):
        assert client.post(url).status_code == 404, url
        assert client.get(url).status_code == 404, url
    expired = link(server, workspace, event_id, "close", expires_in=-10)
    assert client.post(expired).status_code == 410
    assert api.get(f"/events/{event_id}").json()["data"]["state"] == "ongoing"


def test_notifications_carry_links_a_receiver_can_follow(tmp_path):
    """With --public-url, a webhook for an ongoing event carries its links; following the
    acknowledge link (GET, then the form's POST) acknowledges it."""
    running = start_server(Settings(database_url=f"sqlite:///{tmp_path}/links.db",
                                    public_url="http://eventgate.invalid"))
    receiver = start_receiver()
    try:
        workspace = running.create_workspace()
        with running.database.writer.begin() as connection:
            create_destination(connection, workspace, name="hook", kind="webhook", url=receiver.url,
                               filter=parse_filter(None), secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        api = running.client(headers={"Authorization": f"Bearer {running.create_key(workspace_id=workspace)}"})
        created = api.post("/events", json={"title": "Door open", "subtitle": "front", "topics": ["home"]})
        event_id = created.json()["id"]
        [request] = receiver.wait_for(1)
        links = request.json()["data"]["links"]
        assert set(links) == {"acknowledge", "close"}
        acknowledge = links["acknowledge"].replace("http://eventgate.invalid", running.base_url)
        with httpx.Client() as phone:
            assert "Acknowledge this event?" in phone.get(acknowledge).text
            assert phone.post(acknowledge).status_code == 200
        assert api.get(f"/events/{event_id}").json()["data"]["acknowledged_by"] == "via link"
        requests = receiver.wait_for(2)
        assert requests[1].json()["type"] == "event.acknowledged"
        api.post(f"/events/{event_id}/close")
        closed = receiver.wait_for(3)[2].json()
        assert closed["type"] == "event.closed" and "links" not in closed["data"]
    finally:
        receiver.stop()
        running.stop()
