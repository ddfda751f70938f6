"""Each operation of an event as the ntfy message subscribers receive (SPEC §13).

One operation is one message, read from the live frame the hub made of it (`op` and the event
after it), so a replayed message and a live one are the same:

- `id` is made from the operation's seq (messages.message_id), so `since=<id>` resumes exactly;
- `time` is when eventgate received the operation; `topic` the topic the channel was asked for by;
- `sequence_id` is the event id: an app replaces the event's notification on every update;
- create, update and close are `message`s (a close says so in the title); an acknowledgement is
  `message_clear` and a deletion `message_delete` for the event's sequence_id;
- with `--public-url`, an ongoing, unacknowledged event's message carries two buttons: an
  `http` action that POSTs the event's one-tap acknowledge link (SPEC §11: acknowledged "via
  link", no sign-in; the app clears the notification) and a `view` action to the event page.
"""

from __future__ import annotations

from typing import Any

from eventgate.api.ntfy.messages import message_id

PRIORITY_OF_SEVERITY = {"critical": 5, "high": 4, "normal": 3, "low": 2}
CLOSED_PREFIX = "Closed: "


def is_acknowledgement(op: dict[str, Any]) -> bool:
    return op["kind"] == "update" and op["fields"].get("acknowledged") is True


def ntfy_message(op: dict[str, Any], event: dict[str, Any], topic: str, public_url: str | None,
                 links: dict[str, str] | None = None) -> dict[str, Any]:
    """The ntfy message of one operation (`op` as a live frame carries it, `event` after it);
    `links` are the event's one-tap links (action_links.links_for), when the server has them."""
    body: dict[str, Any] = {"id": message_id(op["seq"]), "time": int(op["received_at"]), "event": "message",
                            "topic": topic}
    if op["kind"] == "delete":
        body["event"] = "message_delete"
    elif is_acknowledgement(op):
        body["event"] = "message_clear"
    else:
        title = event.get("title") or None
        if op["kind"] == "close":
            title = CLOSED_PREFIX + (title or "event")
        if title:
            body["title"] = title
        body["message"] = event.get("message") or event.get("title") or op["event_type"]
        body["priority"] = PRIORITY_OF_SEVERITY.get(event.get("severity") or "normal", 3)
        if event.get("tags"):
            body["tags"] = list(event["tags"])
        if public_url:
            body["click"] = f"{public_url.rstrip('/')}/#/events/{event['id']}"
            if links and event.get("state") == "ongoing" and not event.get("acknowledged_at"):
                body["actions"] = [
                    {"action": "http", "label": "Acknowledge", "url": links["acknowledge"], "method": "POST",
                     "clear": True},
                    {"action": "view", "label": "Open", "url": body["click"]},
                ]
    body["sequence_id"] = event["id"]
    return body
