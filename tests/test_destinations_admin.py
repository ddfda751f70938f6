"""Destinations through the admin HTTP API (SPEC §10): managed by an unrestricted admin key of
their workspace, a webhook's secret shown once, deliveries listed, resent and tested against a
real receiver on loopback."""

from __future__ import annotations

import socket
import time

import pytest
from standardwebhooks.webhooks import Webhook

from tests.helpers import error_code
from tests.live_client import create

SCAN_WAIT = 1.5  # the dispatcher takes up changed destinations within its scan (1 s)




@pytest.fixture
def admin(server, workspace):
    return server.client(headers={"Authorization": f"Bearer {server.create_key(('admin',), workspace_id=workspace)}"})


@pytest.fixture
def channel_of(server, workspace):
    return server.create_channel(workspace_id=workspace)


def add(admin, url, **fields):
    reply = admin.post("/admin/destinations", json={"name": "receiver", "kind": "webhook", "url": url, **fields})
    assert reply.status_code == 201, reply.text
    return reply.json()["data"]


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def deliveries(admin, destination_id, *, at_least=0, timeout=15, **params):
    deadline = time.monotonic() + timeout
    while True:
        reply = admin.get(f"/admin/destinations/{destination_id}/deliveries", params=params)
        assert reply.status_code == 200, reply.text
        if len(reply.json()["data"]) >= at_least or time.monotonic() > deadline:
            return reply.json()
        time.sleep(0.05)


def test_create_shows_the_secret_once_and_the_destination_is_listed_without_it(admin):
    created = add(admin, "https://hooks.example.com/x", filter={"severity": "high", "tags": "home"})
    assert created["secret"].startswith("whsec_") and created["has_secret"] and created["enabled"]
    assert created["filter"] == {"severity": "high", "tags": ["home"]} and created["kind"] == "webhook"
    listed = admin.get("/admin/destinations").json()["data"]
    assert [d["id"] for d in listed] == [created["id"]] and "secret" not in listed[0]
    one = admin.get(f"/admin/destinations/{created['id']}").json()["data"]
    assert "secret" not in one and one["name"] == "receiver"


def test_apprise_destinations_have_no_secret(admin):
    reply = admin.post("/admin/destinations", json={"name": "phone", "kind": "apprise", "url": "ntfys://ntfy.sh/x",
                                                      "enabled": False})
    assert reply.status_code == 201, reply.text
    created = reply.json()["data"]
    assert "secret" not in created and not created["has_secret"] and not created["enabled"]
    rotate = admin.post(f"/admin/destinations/{created['id']}/rotate-secret")
    assert rotate.status_code == 409 and error_code(rotate) == "not_a_webhook"


def test_update_and_delete(admin):
    created = add(admin, "https://hooks.example.com/x")
    reply = admin.patch(f"/admin/destinations/{created['id']}",
                        json={"name": "renamed", "url": "https://other.example.com/", "filter": {"event_types": ["a_b"]}})
    assert reply.status_code == 200, reply.text
    changed = reply.json()["data"]
    assert (changed["name"], changed["url"], changed["filter"]) == ("renamed", "https://other.example.com/",
                                                                     {"event_types": ["a_b"]})
    assert admin.delete(f"/admin/destinations/{created['id']}").status_code == 204
    gone = admin.get(f"/admin/destinations/{created['id']}")
    assert gone.status_code == 404 and error_code(gone) == "destination_not_found"


@pytest.mark.parametrize("body, code", [
    ({"kind": "webhook", "url": "https://x.example"}, "name_required"),
    ({"name": "n", "url": "https://x.example"}, "kind_required"),
    ({"name": "n", "kind": "sms", "url": "https://x.example"}, "kind_invalid"),
    ({"name": "n", "kind": "webhook", "url": "ftp://x.example"}, "url_invalid"),
    ({"name": "n", "kind": "webhook", "url": "http://[::1"}, "url_invalid"),
    ({"name": "n", "kind": "webhook", "url": "https://x.example/a b"}, "url_invalid"),
    ({"name": "n", "kind": "apprise", "url": "not a url"}, "url_invalid"),
    ({"name": " ", "kind": "webhook", "url": "https://x.example"}, "name_invalid"),
    ({"name": "n", "kind": "webhook", "url": "https://x.example", "filter": {"severity": "loud"}}, "filter_invalid"),
    ({"name": "n", "kind": "webhook", "url": "https://x.example", "filter": {"colour": "red"}}, "filter_invalid"),
    ({"name": "n", "kind": "webhook", "url": "https://x.example", "filter": {"channel_id": ["nope"]}},
     "filter_invalid"),
    ({"name": "n", "kind": "webhook", "url": "https://x.example", "filter": {"tags": []}}, "filter_invalid"),
    ({"name": "n", "kind": "webhook", "url": "https://x.example", "enabled": "yes"}, "enabled_invalid"),
    ({"name": "n", "kind": "webhook", "url": "https://x.example", "secret": "mine"}, "unknown_field"),
    ({"name": 5, "kind": "webhook", "url": "https://x.example"}, "name_invalid"),
])
def test_invalid_bodies_are_400(admin, body, code):
    reply = admin.post("/admin/destinations", json=body)
    assert reply.status_code == 400 and error_code(reply) == code, reply.text


def test_bad_requests_are_4xx_not_5xx(admin):
    created = add(admin, "https://hooks.example.com/x")
    one = f"/admin/destinations/{created['id']}"
    assert admin.post("/admin/destinations", content=b"{", headers={"content-type": "application/json"}) \
        .status_code == 400
    assert admin.post("/admin/destinations", content=b"{}").status_code == 415
    assert error_code(admin.patch(one, json={"kind": "apprise"})) == "unknown_field"
    assert admin.get(one + "/deliveries", params={"limit": "0"}).status_code == 400
    assert admin.get(one + "/deliveries", params={"limit": "x"}).status_code == 400
    assert admin.get(one + "/deliveries", params={"page": "2"}).status_code == 400
    assert admin.get("/admin/destinations", params={"x": "1"}).status_code == 400
    assert admin.post(one + "/deliveries/abc/resend").status_code == 404
    assert admin.post(one + "/deliveries/99999999999999999999/resend").status_code == 404
    assert error_code(admin.post(one + "/deliveries/12345/resend")) == "delivery_not_found"
    assert admin.get("/admin/destinations/..%2F..").status_code == 404


def test_another_workspace_sees_404(server, admin):
    created = add(admin, "https://hooks.example.com/x")
    other_key = server.create_key(("admin",), workspace_id=server.create_workspace())
    other = server.client(headers={"Authorization": f"Bearer {other_key}"})
    one = f"/admin/destinations/{created['id']}"
    assert other.get("/admin/destinations").json()["data"] == []
    for reply in (other.get(one), other.patch(one, json={"name": "x"}), other.delete(one),
                  other.post(one + "/disable"), other.post(one + "/rotate-secret"), other.post(one + "/test"),
                  other.get(one + "/deliveries")):
        assert reply.status_code == 404 and error_code(reply) == "destination_not_found", reply.text
    assert admin.get(one).status_code == 200


def test_restricted_and_non_admin_keys_are_refused(server, workspace, channel_of):
    restricted = server.client(headers={"Authorization": "Bearer " + server.create_key(
        ("admin",), workspace_id=workspace, channels=(channel_of,))})
    reply = restricted.get("/admin/destinations")
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"
    assert restricted.post("/admin/destinations", json={"name": "n", "kind": "webhook",
                                                         "url": "https://x.example"}).status_code == 403
    reader = server.client(headers={"Authorization": "Bearer " + server.create_key(workspace_id=workspace)})
    assert reader.get("/admin/destinations").status_code == 403
    assert server.client().get("/admin/destinations").status_code == 401


def test_rotating_the_secret_changes_the_signature(server, admin, receiver, channel_of):
    created = add(admin, receiver.url)
    client = server.client()
    create(client, channel_of, title="before")
    [first] = receiver.wait_for(1)
    assert Webhook(created["secret"]).verify(first.body, first.headers)["data"]["event"]["title"] == "before"
    rotated = admin.post(f"/admin/destinations/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["data"]["secret"]
    assert secret.startswith("whsec_") and secret != created["secret"]
    assert "secret" not in admin.get(f"/admin/destinations/{created['id']}").json()["data"]
    time.sleep(SCAN_WAIT)
    create(client, channel_of, title="after")
    second = receiver.wait_for(2)[1]
    assert Webhook(secret).verify(second.body, second.headers)["data"]["event"]["title"] == "after"
    with pytest.raises(Exception):
        Webhook(created["secret"]).verify(second.body, second.headers)


def test_deliveries_are_listed_newest_first_a_page_at_a_time_and_resent(server, admin, receiver, channel_of):
    created = add(admin, receiver.url)
    client = server.client()
    for title in ("one", "two", "three"):
        create(client, channel_of, title=title)
    receiver.wait_for(3)
    listed = deliveries(admin, created["id"], at_least=3)
    attempts = listed["data"]
    assert [a["outcome"] for a in attempts] == ["delivered"] * 3 and listed["next_before"] is None
    # Newest first by attempt (separate events go out side by side, so not necessarily by seq).
    assert [a["id"] for a in attempts] == sorted((a["id"] for a in attempts), reverse=True)
    assert all(a["http_status"] == 200 for a in attempts)
    page = deliveries(admin, created["id"], limit=2)
    assert [a["id"] for a in page["data"]] == [a["id"] for a in attempts[:2]] and page["next_before"]
    rest = deliveries(admin, created["id"], limit=2, before=page["next_before"])
    assert [a["id"] for a in rest["data"]] == [attempts[2]["id"]] and rest["next_before"] is None

    oldest = attempts[-1]
    reply = admin.post(f"/admin/destinations/{created['id']}/deliveries/{oldest['id']}/resend")
    assert reply.status_code == 202, reply.text
    assert reply.json()["data"]["webhook_id"] == oldest["webhook_id"]
    again = receiver.wait_for(4)[3]
    assert again.headers["webhook-id"] == oldest["webhook_id"]
    assert Webhook(created["secret"]).verify(again.body, again.headers)["data"]["seq"] == oldest["seq"]


def test_test_sends_a_sample_to_the_receiver(admin, receiver):
    created = add(admin, receiver.url + "/hook")
    reply = admin.post(f"/admin/destinations/{created['id']}/test")
    assert reply.status_code == 200, reply.text
    attempt = reply.json()["data"]
    assert attempt["outcome"] == "delivered" and attempt["http_status"] == 200 and attempt["error"] is None
    [request] = receiver.wait_for(1)
    assert request.path == receiver.prefix + "/hook" and request.headers["webhook-id"] == attempt["webhook_id"]
    assert Webhook(created["secret"]).verify(request.body, request.headers)["data"]["event"]["event_type"] \
        == "eventgate_test"
    recorded = deliveries(admin, created["id"], at_least=1)["data"]
    assert [a["webhook_id"] for a in recorded] == [attempt["webhook_id"]] and recorded[0]["seq"] is None
    resend = admin.post(f"/admin/destinations/{created['id']}/deliveries/{recorded[0]['id']}/resend")
    assert resend.status_code == 409


def test_test_against_a_closed_port_fails_and_says_why(admin):
    created = add(admin, closed_port_url())
    reply = admin.post(f"/admin/destinations/{created['id']}/test")
    assert reply.status_code == 200, reply.text
    attempt = reply.json()["data"]
    assert attempt["outcome"] == "failed" and attempt["http_status"] is None and attempt["error"]
    recorded = deliveries(admin, created["id"], at_least=1)["data"]
    assert recorded[0]["outcome"] == "failed" and recorded[0]["error"] == attempt["error"]


def test_test_follows_the_servers_address_policy(server_factory):
    # Stopped at once: its dispatcher would take the leases of the other tests' destinations.
    strict = server_factory(destination_allow_list="")
    try:
        key = strict.create_key(("admin",), workspace_id=strict.create_workspace())
        admin = strict.client(headers={"Authorization": f"Bearer {key}"})
        created = add(admin, "http://127.0.0.1:9/hook")
        attempt = admin.post(f"/admin/destinations/{created['id']}/test").json()["data"]
        assert attempt["outcome"] == "refused" and attempt["error"]
        assert admin.delete(f"/admin/destinations/{created['id']}").status_code == 204
    finally:
        strict.stop()


def test_disable_stops_deliveries_and_enable_resumes_from_the_cursor(server, admin, receiver, channel_of):
    created = add(admin, receiver.url)
    one = f"/admin/destinations/{created['id']}"
    client = server.client()
    create(client, channel_of, title="first")
    receiver.wait_for(1)
    disabled = admin.post(one + "/disable")
    assert disabled.status_code == 200 and disabled.json()["data"]["enabled"] is False
    time.sleep(SCAN_WAIT)
    missed = [create(client, channel_of, title=f"missed {n}") for n in range(2)]
    time.sleep(SCAN_WAIT)
    assert len(receiver.requests()) == 1
    enabled = admin.post(one + "/enable")
    assert enabled.status_code == 200 and enabled.json()["data"]["enabled"] is True
    requests = receiver.wait_for(3)
    assert sorted(r.json()["data"]["event"]["id"] for r in requests[1:]) == sorted(missed)
