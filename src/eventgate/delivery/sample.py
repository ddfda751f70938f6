"""A sample message, so that an operator can try a destination before any event (`eventgate
destination test`, `POST /admin/destinations/{id}/test`)."""

from __future__ import annotations

import time
from typing import Any

from eventgate.delivery.messages import notification_text, webhook_body, webhook_headers
from eventgate.delivery.senders import AppriseSender, SendResult, WebhookSender
from eventgate.domain.times import now_ms
from eventgate.store.destinations import Attempt, Destination


def sample_operation(destination: Destination) -> dict[str, Any]:
    now = now_ms()
    event = {
        "id": "test-" + destination.id.lower(), "workspace_id": destination.workspace_id, "channel_id": None,
        "thing_id": None, "event_type": "eventgate_test", "title": "eventgate test message",
        "message": f"The destination {destination.name!r} works.", "description": None, "status": "ongoing",
        "state": "ongoing", "severity": "normal", "tags": [], "images": [], "attrs": {}, "metadata": {},
        "actions": [], "started_at": now, "ended_at": None, "created_at": now, "updated_at": now, "seq": 0,
    }
    return {"seq": 0, "workspace_id": destination.workspace_id, "op_id": "test", "kind": "create",
            "event_id": event["id"], "channel_id": None, "event_time": now, "received_at": now,
            "fields": {"title": event["title"], "message": event["message"]}, "event": event}


async def send_sample(destination: Destination, webhooks: WebhookSender, apprise: AppriseSender,
                      public_url: str | None = None) -> tuple[Attempt, SendResult]:
    """Send the sample now; returns the attempt (to record) and what came back."""
    operation = sample_operation(destination)
    message_id = f"msg_{destination.id}_test_{now_ms()}"
    if destination.kind == "webhook":
        body = webhook_body(operation)
        result = await webhooks.send(destination.url, body,
                                     webhook_headers(destination.secret or "", message_id, int(time.time()), body))
    else:
        title, text = notification_text(operation["event"], public_url)
        result = await apprise.send(destination.url, title, text)
    attempt = Attempt(destination_id=destination.id, seq=None, event_id=None, webhook_id=message_id, attempt=1,
                      outcome=result.outcome, http_status=result.http_status, latency_ms=result.latency_ms,
                      error=result.error, response_excerpt=result.excerpt, created_at=now_ms())
    return attempt, result
