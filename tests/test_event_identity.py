"""An event's identity outlives it: a deleted event's timeline never leaks into a new event."""

from __future__ import annotations

from tests.conftest import PASSWORD


def test_new_event_after_deleting_the_newest_gets_a_fresh_timeline(server, client):
    workspace = server.create_workspace()
    channel = server.create_channel(workspace_id=workspace)
    key = server.create_key(("events:read", "events:write"), workspace_id=workspace)
    headers = {"Authorization": f"Bearer {key}"}
    path = f"/v1/channel/{channel}/event"
    old = client.post(f"{path}/create", json={"password": PASSWORD, "event_type": "door_open"}).json()["event_id"]
    client.post(f"{path}/update", json={"password": PASSWORD, "event_id": old, "attrs": {"x": 1}})
    assert client.delete(f"/events/{old}", headers=headers).status_code == 204

    new = client.post(f"{path}/create", json={"password": PASSWORD, "event_type": "door_open"}).json()["event_id"]
    timeline = client.get(f"/events/{new}/timeline", headers=headers).json()["data"]
    assert [op["kind"] for op in timeline] == ["create"]
    assert {op["event_id"] for op in timeline} == {new}


def test_recreating_a_deleted_event_id_starts_a_new_timeline(server, client):
    workspace = server.create_workspace()
    channel = server.create_channel(workspace_id=workspace)
    key = server.create_key(("events:read", "events:write"), workspace_id=workspace)
    headers = {"Authorization": f"Bearer {key}"}
    path = f"/v1/channel/{channel}/event"
    body = {"password": PASSWORD, "event_type": "door_open", "event_id": "front-door"}
    assert client.post(f"{path}/create", json=body).status_code == 200
    assert client.delete("/events/front-door", headers=headers).status_code == 204
    assert client.post(f"{path}/create", json=body).status_code == 200
    timeline = client.get("/events/front-door/timeline", headers=headers).json()["data"]
    assert [op["kind"] for op in timeline] == ["create"]
