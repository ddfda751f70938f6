"""Seed 003: the registry is the whole workspace's, so changing it needs a key not restricted
to channels (403 `channel_forbidden` otherwise); reading it does not."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import error_code

TYPES = "/api/b/v2/events"


class Workspace:
    """A workspace with one CUSTOM type, an unrestricted types key and a restricted one."""

    def __init__(self, server: Any) -> None:
        self.workspace_id = server.create_workspace()
        channel = server.create_channel(workspace_id=self.workspace_id)
        scopes = ("types:read", "types:write")
        self.admin: httpx.Client = server.client(headers={
            "Authorization": f"Bearer {server.create_key(scopes, workspace_id=self.workspace_id)}"})
        restricted = server.create_key(scopes, workspace_id=self.workspace_id, channels=(channel,))
        self.restricted: httpx.Client = server.client(headers={"Authorization": f"Bearer {restricted}"})
        reply = self.admin.post(TYPES, json={"name": "Door opened", "code": "door_open"})
        assert reply.status_code == 201, reply.text
        self.type_id: int = reply.json()["id"]

    def registry(self) -> list[dict[str, Any]]:
        reply = self.admin.get(TYPES, params={"per_page": 100})
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]


@pytest.fixture
def ws(server) -> Workspace:
    return Workspace(server)


WRITES = [
    ("POST", "", {"name": "Backup failed", "code": "backup_failed"}),
    ("PUT", "/{id}", {"name": "Door opened", "code": "door_opened"}),
    ("DELETE", "/{id}", None),
    ("POST", "/{id}/deactivate", None),
    ("POST", "/{id}/activate", None),
]


@pytest.mark.parametrize("method, suffix, body", WRITES, ids=["create", "update", "delete", "deactivate",
                                                              "activate"])
def test_a_key_restricted_to_channels_may_not_change_the_registry(ws, method, suffix, body):
    if suffix.endswith("/activate"):  # activating needs something to activate
        assert ws.admin.post(f"{TYPES}/{ws.type_id}/deactivate").status_code == 204
    before = ws.registry()
    reply = ws.restricted.request(method, TYPES + suffix.format(id=ws.type_id), json=body)
    assert reply.status_code == 403, reply.text
    assert error_code(reply) == "channel_forbidden"
    assert "restricted to channels" in reply.json()["error"]
    assert ws.registry() == before


def test_a_restricted_key_is_refused_before_its_body_is_read(ws):
    reply = ws.restricted.post(TYPES, content=b"not json", headers={"Content-Type": "application/json"})
    assert reply.status_code == 403
    assert error_code(reply) == "channel_forbidden"


def test_a_restricted_key_may_still_read_the_registry(ws):
    listed = ws.restricted.get(TYPES)
    assert listed.status_code == 200, listed.text
    assert [t["code"] for t in listed.json()["data"]][-1] == "door_open"
    one = ws.restricted.get(f"{TYPES}/{ws.type_id}")
    assert one.status_code == 200
    assert one.json()["code"] == "door_open"


def test_an_unrestricted_types_write_key_still_changes_the_registry(ws):
    created = ws.admin.post(TYPES, json={"name": "Backup failed", "code": "backup_failed"})
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    renamed = ws.admin.put(f"{TYPES}/{ws.type_id}", json={"name": "Door opened", "code": "door_opened"})
    assert renamed.status_code == 200, renamed.text
    assert ws.admin.post(f"{TYPES}/{new_id}/deactivate").status_code == 204
    assert ws.admin.post(f"{TYPES}/{new_id}/activate").status_code == 204
    assert ws.admin.delete(f"{TYPES}/{new_id}").status_code == 204
    customs = [(t["code"], t["status"]) for t in ws.registry() if t["type"] == "CUSTOM"]
    assert customs == [("door_opened", 1)]
