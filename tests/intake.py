"""What the intake tests share (ntfy, Gotify, Apprise): a channel with a token in a workspace of
its own, and a reader of that workspace's events."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from eventgate.store.channel_tokens import create_token


@dataclass
class IntakeChannel:
    workspace_id: str
    channel_id: str
    name: str
    token: str
    token_id: int
    reader: httpx.Client  # an API key of the workspace (every scope but admin)
    admin: httpx.Client

    def events(self) -> list[dict[str, Any]]:
        reply = self.reader.get("/events", params={"channel_id": self.channel_id})
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]

    def only_event(self) -> dict[str, Any]:
        events = self.events()
        assert len(events) == 1, events
        return events[0]

    def timeline(self, event_id: str) -> list[dict[str, Any]]:
        reply = self.reader.get(f"/events/{event_id}/timeline")
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]

    def revoke(self) -> None:
        reply = self.admin.delete(f"/admin/channels/{self.channel_id}/tokens/{self.token_id}")
        assert reply.status_code == 204, reply.text


def new_token(server, workspace_id: str, channel_id: str, name: str = "backup-script") -> tuple[str, int]:
    with server.database.writer.begin() as connection:
        plain, token = create_token(connection, workspace_id, channel_id, name)
    return plain, token.id


def intake_channel(server, *, token_name: str = "backup-script") -> IntakeChannel:
    workspace_id = server.create_workspace()
    name = f"home-{secrets.token_hex(3)}"
    channel_id = server.create_channel(workspace_id=workspace_id, name=name)
    plain, token_id = new_token(server, workspace_id, channel_id, token_name)
    reader = server.client(headers={"Authorization": f"Bearer {server.create_key(workspace_id=workspace_id)}"})
    admin = server.client(headers={"Authorization": f"Bearer {server.create_key(('admin',), workspace_id=workspace_id)}"})
    return IntakeChannel(workspace_id, channel_id, name, plain, token_id, reader, admin)
