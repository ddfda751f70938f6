"""What a destination is sent for one operation.

Webhooks follow the Standard Webhooks specification: the body is
`{"type": "event.created|updated|acknowledged|closed|deleted", "timestamp": ISO-8601, "data": {"seq", "op", "event"}}`
and the headers `webhook-id` (the same on every retry), `webhook-timestamp` (Unix seconds of
this attempt) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with
the secret that follows `whsec_`, base64-decoded).

Escalation (SPEC §11) sends `{"type": "event.reminder|event.escalated", "timestamp", "data":
{"event", "destination" (the destination whose schedule fired), "fired" (which reminder)}}`,
signed with the secret of the destination it is sent to; Apprise titles start with "Still
unacknowledged: " or "Escalated: ".

Apprise services get a title `[SEVERITY] title` and a body of the message, plus a link to the
event's page when the server knows its public URL (`--public-url`). With a public URL, both
also carry an ongoing event's one-tap acknowledge and close links (domain/action_links.py).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
from typing import Any

import msgspec

from eventgate.domain.views import canonical_event, operation_view

TYPE_OF_KIND = {"create": "event.created", "update": "event.updated", "close": "event.closed",
                "delete": "event.deleted"}
_encoder = msgspec.json.Encoder()


def _iso(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def webhook_body(operation: dict[str, Any], links: dict[str, str] | None = None) -> bytes:
    """The body for a stored operation (store/events.py's row_to_operation); `links` are the
    event's one-tap acknowledge and close links, when the server has a public URL."""
    kind = operation["kind"]
    acknowledged = kind == "update" and operation["fields"].get("acknowledged") is True
    data: dict[str, Any] = {"seq": operation["seq"], "op": operation_view(operation),
                            "event": canonical_event(operation["event"])}
    if links:
        data["links"] = links
    return _encoder.encode({
        "type": "event.acknowledged" if acknowledged else TYPE_OF_KIND[kind],
        "timestamp": _iso(operation["received_at"]),
        "data": data,
    })


ESCALATION_TYPES = {"repeat": "event.reminder", "escalate": "event.escalated"}
ESCALATION_TITLES = {"repeat": "Still unacknowledged: ", "escalate": "Escalated: "}


def escalation_body(kind: str, event: dict[str, Any], source_id: str, fired: int, at_ms: int,
                    links: dict[str, str] | None = None) -> bytes:
    """A reminder (`repeat`) or an escalation (`escalate`) of an ongoing, unacknowledged event."""
    data: dict[str, Any] = {"event": canonical_event(event), "destination": source_id, "fired": fired}
    if links:
        data["links"] = links
    return _encoder.encode({"type": ESCALATION_TYPES[kind], "timestamp": _iso(at_ms), "data": data})


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks' `webhook-signature` value for one attempt."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def webhook_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, message_id, timestamp, body),
            "user-agent": "eventgate-webhooks"}


def notification_text(event: dict[str, Any], public_url: str | None,
                      links: dict[str, str] | None = None) -> tuple[str, str]:
    """(title, body) of an Apprise notification for the event as an operation left it."""
    title = f"[{(event.get('severity') or 'normal').upper()}] {event.get('title') or 'event'}"
    body = event.get("message") or ""
    if event.get("state") == "closed":
        body = f"{body}\n(closed: {event.get('status') or 'closed'})" if body else f"closed: {event.get('status')}"
    if public_url:
        body = f"{body}\n{public_url.rstrip('/')}/#/events/{event['id']}"
    if links:
        body += f"\nAcknowledge: {links['acknowledge']}\nClose: {links['close']}"
    return title, body
