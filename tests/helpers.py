"""Small helpers the tests share: building producer requests and reading replies."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import PASSWORD


def body_form(channel: str, /, **fields: Any) -> dict[str, Any]:
    """A valid seed-001 create body; override or add fields with keyword arguments."""
    body = {"channel_id": channel, "password": PASSWORD, "title": "Database lag", "status": "ongoing",
            "message": "Replica delay > 30s", "severity": "high", "event_time": int(time.time())}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


def lifecycle_body(channel: str, event_id: str, /, **fields: Any) -> dict[str, Any]:
    """A valid seed-001 update/close body."""
    body = {"channel_id": channel, "password": PASSWORD, "event_id": event_id, "status": "investigating",
            "message": "still lagging", "severity": "high", "event_time": int(time.time())}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


def create_event(client: httpx.Client, channel_id: str, **fields: Any) -> str:
    reply = client.post("/event/create", json=body_form(channel_id, **fields))
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]["event_id"]


def error_code(reply: httpx.Response) -> str:
    return reply.json()["error_code"]
