"""API keys on the REST and admin routes: presenting a key, 401 vs 403, scopes, channel
restrictions, and that every such route documents its scope (SPEC §1, §4)."""

from __future__ import annotations

import pytest

from eventgate.domain.times import now_ms
from tests.helpers import error_code

EVENT = {"title": "t", "subtitle": "s", "topics": []}



def client_with(server, key, header="bearer"):
    if header == "bearer":
        return server.client(headers={"Authorization": f"Bearer {key}"})
    return server.client(headers={"X-Api-Key": key})


def make_event(server, workspace, **fields):
    writer = client_with(server, server.create_key(("events:write",), workspace_id=workspace))
    reply = writer.post("/events", json={**EVENT, **fields})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


# -- presenting a key ---------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_a_key_is_accepted_as_bearer_or_x_api_key(server, workspace, header):
    api = client_with(server, server.create_key(workspace_id=workspace), header)
    assert api.get("/events").status_code == 200


def test_no_key_is_401(client):
    reply = client.get("/events")
    assert reply.status_code == 401 and error_code(reply) == "authentication_required"
    assert reply.headers["www-authenticate"] == "Bearer"


def test_an_unknown_key_is_401(server):
    reply = client_with(server, "egk_not-a-real-key").get("/events")
    assert reply.status_code == 401 and error_code(reply) == "invalid_api_key"


def test_an_expired_key_is_401(server, workspace):
    key = server.create_key(workspace_id=workspace, expires_at=now_ms() - 1000)
    reply = client_with(server, key).get("/events")
    assert reply.status_code == 401 and error_code(reply) == "invalid_api_key"


def test_a_key_that_has_not_expired_yet_works(server, workspace):
    key = server.create_key(workspace_id=workspace, expires_at=now_ms() + 3_600_000)
    assert client_with(server, key).get("/events").status_code == 200


def test_a_non_bearer_authorization_scheme_is_401(server, workspace):
    key = server.create_key(workspace_id=workspace)
    reply = server.client(headers={"Authorization": f"Basic {key}"}).get("/events")
    assert reply.status_code == 401


# -- scopes -------------------------------------------------------------------------------------


def test_a_read_only_key_cannot_create_update_or_delete(server, workspace):
    event_id = make_event(server, workspace)
    reader = client_with(server, server.create_key(("events:read",), workspace_id=workspace))
    for reply in (reader.post("/events", json=EVENT), reader.put(f"/events/{event_id}", json={"subtitle": "x"}),
                  reader.delete(f"/events/{event_id}")):
        assert reply.status_code == 403 and error_code(reply) == "insufficient_scope"
    assert reader.get(f"/events/{event_id}").status_code == 200


def test_a_write_only_key_cannot_read(server, workspace):
    event_id = make_event(server, workspace)
    writer = client_with(server, server.create_key(("events:write",), workspace_id=workspace))
    for path in ("/events", f"/events/{event_id}", f"/events/{event_id}/timeline"):
        reply = writer.get(path)
        assert reply.status_code == 403 and error_code(reply) == "insufficient_scope", path


def test_a_key_with_other_scopes_only_is_403_on_events(server, workspace):
    api = client_with(server, server.create_key(("types:read", "subscribe"), workspace_id=workspace))
    reply = api.get("/events")
    assert reply.status_code == 403 and "events:read" in reply.json()["error"]


def test_the_admin_scope_implies_the_event_scopes(server, workspace):
    admin = client_with(server, server.create_key(("admin",), workspace_id=workspace))
    assert admin.post("/events", json=EVENT).status_code == 201
    assert admin.get("/events").status_code == 200


def test_the_events_scopes_do_not_grant_admin(server, workspace):
    api = client_with(server, server.create_key(workspace_id=workspace))
    for method, path in (("GET", "/admin/keys"), ("GET", "/admin/channels"), ("POST", "/admin/channels")):
        reply = api.request(method, path, json={"name": "x"})
        assert reply.status_code == 403 and error_code(reply) == "insufficient_scope", path


def test_auth_is_checked_before_the_body(client):
    reply = client.post("/events", content=b"not json", headers={"Content-Type": "application/json"})
    assert reply.status_code == 401


# -- channel restrictions -----------------------------------------------------------------------


def test_a_key_restricted_to_other_channels_is_403_on_an_event(server, workspace):
    event_id = make_event(server, workspace)  # in the default channel
    elsewhere = server.create_channel(workspace_id=workspace)
    api = client_with(server, server.create_key(workspace_id=workspace, channels=(elsewhere,)))
    for reply in (api.get(f"/events/{event_id}"), api.get(f"/events/{event_id}/timeline"),
                  api.put(f"/events/{event_id}", json={"subtitle": "x"}), api.delete(f"/events/{event_id}")):
        assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"


def test_a_restricted_key_creates_in_its_channel_but_not_elsewhere(server, workspace):
    allowed = server.create_channel(workspace_id=workspace)
    other = server.create_channel(workspace_id=workspace)
    api = client_with(server, server.create_key(workspace_id=workspace, channels=(allowed,)))
    assert api.post("/events", json={**EVENT, "channel_id": allowed}).status_code == 201
    reply = api.post("/events", json={**EVENT, "channel_id": other})
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"


def test_a_restricted_key_cannot_create_in_the_default_channel(server, workspace):
    allowed = server.create_channel(workspace_id=workspace)
    api = client_with(server, server.create_key(workspace_id=workspace, channels=(allowed,)))
    reply = api.post("/events", json=EVENT)
    assert reply.status_code == 403 and error_code(reply) == "channel_forbidden"


def test_a_restricted_key_may_use_events_of_its_channel(server, workspace):
    allowed = server.create_channel(workspace_id=workspace)
    event_id = make_event(server, workspace, channel_id=allowed)
    api = client_with(server, server.create_key(workspace_id=workspace, channels=(allowed,)))
    assert api.put(f"/events/{event_id}", json={"subtitle": "x"}).status_code == 200
    assert api.delete(f"/events/{event_id}").status_code == 204


# -- documentation ------------------------------------------------------------------------------


def test_every_events_and_admin_route_documents_its_scope(client):
    paths = client.get("/openapi.json").json()["paths"]
    expected = {
        ("get", "/events"): "events:read", ("post", "/events"): "events:write",
        ("get", "/events/{event_id}"): "events:read", ("put", "/events/{event_id}"): "events:write",
        ("delete", "/events/{event_id}"): "events:write", ("get", "/events/{event_id}/timeline"): "events:read",
        ("get", "/admin/keys"): "admin", ("post", "/admin/keys"): "admin", ("delete", "/admin/keys/{key_id}"): "admin",
        ("get", "/admin/channels"): "admin", ("post", "/admin/channels"): "admin",
        ("patch", "/admin/channels/{channel_id}"): "admin", ("delete", "/admin/channels/{channel_id}"): "admin",
        ("post", "/admin/channels/{channel_id}/rotate-password"): "admin",
    }
    for (method, path), scope in expected.items():
        operation = paths[path][method]
        assert f"`{scope}`" in operation["description"], (method, path)
        assert {"bearer": []} in operation["security"] and {"apiKey": []} in operation["security"]
        assert "401" in operation["responses"] and "403" in operation["responses"]
