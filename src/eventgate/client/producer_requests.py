"""The producer requests behind create, update and close, built once so that every retry
sends the same bytes with the same op_id.

Which route:
- create without `event_type`: the gateway form `POST /event/create` (channel and password in
  the body); it requires title, status, message, severity and event_time, so status defaults
  to `ongoing`, message to the title, severity to `normal`.
- create with `event_type`, update and close: the channel form
  `POST /v1/channel/{channel_id}/event/{kind}`. It is the one that accepts `event_type`, and on
  update and close a field left out keeps its value (the gateway form would require status,
  message and severity every time, so a client that only wants to add a message would reset
  the severity).
- `event_time`: the gateway form requires it, so the client sends now (milliseconds) there;
  the channel form defaults it to the time the server receives the request, so the client
  leaves it out. Either way a retry sends the same body. A repeat with an op_id chosen by the
  caller is a replay only when the body is the same: on a gateway-form create give
  `event_time` too (else the second body differs and the server answers 409
  `idempotency_conflict`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from eventgate.client.errors import EventgateError

KINDS = ("create", "update", "close")


def new_op_id() -> str:
    return f"op-{secrets.token_hex(16)}"


@dataclass(frozen=True)
class ProducerRequest:
    kind: str
    path: str
    body: dict[str, Any]
    op_id: str
    channel_id: str


@dataclass(frozen=True)
class Receipt:
    """What the server acknowledged: the event, the operation's op_id, the answer as sent."""

    event_id: str
    op_id: str
    channel_id: str
    answer: dict[str, Any]


def producer_request(kind: str, channel_id: str | None, password: str | None, event_id: str | None,
                     fields: dict[str, Any]) -> ProducerRequest:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if not channel_id or not password:
        raise EventgateError("a channel and its password are needed to write events", code="channel_required")
    fields = {name: value for name, value in fields.items() if value is not None}
    op_id = str(fields.pop("op_id", None) or new_op_id())
    if kind == "create" and "event_type" not in fields:
        fields.setdefault("event_time", int(time.time() * 1000))
        body = {"channel_id": channel_id, "password": password, "op_id": op_id}
        body.update(fields)
        body.setdefault("status", "ongoing")
        if "title" in body:
            body.setdefault("message", body["title"])
        body.setdefault("severity", "normal")
        return ProducerRequest(kind, "/event/create", body, op_id, channel_id)
    body = {"password": password, "op_id": op_id}
    if kind != "create":
        if not event_id:
            raise EventgateError(f"{kind} needs an event id", code="event_id_required")
        body["event_id"] = event_id
    body.update(fields)
    return ProducerRequest(kind, f"/v1/channel/{channel_id}/event/{kind}", body, op_id, channel_id)


def receipt_of(request: ProducerRequest, answer: dict[str, Any]) -> Receipt:
    """Both forms' success answers: `{"data": {"event_id", …}}` and `{"event_id"}`."""
    data = answer.get("data") if isinstance(answer.get("data"), dict) else answer
    return Receipt(str(data["event_id"]), str(data.get("op_id") or request.op_id), request.channel_id, answer)
