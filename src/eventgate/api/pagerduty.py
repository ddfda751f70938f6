"""PagerDuty's Events API v2: `POST /v2/enqueue`, so that anything that triggers PagerDuty
incidents (monitoring agents, the PagerDuty client libraries, Apprise, scripts) opens, updates
and closes eventgate events by changing its URL and routing key.

    POST /v2/enqueue   {routing_key, event_action, dedup_key, payload: {summary, source, severity,
                        timestamp, component, group, class, custom_details}, images, links,
                        client, client_url}

The routing key is a channel token (also accepted as an `X-Routing-Key` header). `dedup_key`
names the event in the token's channel (domain/keyed_intake.py): trigger → create, or update
while it is ongoing; acknowledge → acknowledged (by "pagerduty"); resolve → close. A trigger without a
dedup_key gets one, returned in the answer, as PagerDuty does.

Mapping: summary → title and message; severity critical/error/warning/info →
critical/high/normal/low; source, component, group, class and the dedup_key → attrs,
custom_details → attrs.details (flattened where deeper than attrs allow); image `src` →
images; links and `client_url` → actions; `timestamp` → started_at of a new event.

Replies are PagerDuty's: 202 `{"status": "success", "message": "Event processed", "dedup_key"}`;
400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`.
An acknowledge or resolve for a key with no ongoing event is accepted and changes nothing, as
PagerDuty accepts it. 503 when the store cannot take writes, so that senders retry.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.bodies import decode_struct, read_body
from eventgate.api.envelope import JSONResponse
from eventgate.domain.errors import DomainError
from eventgate.domain.keyed_intake import AlertMessage, link_action
from eventgate.service.intake import IntakeService

MAX_BODY_BYTES = 512 * 1024  # PagerDuty's own limit for an event
MAX_DEDUP_KEY = 255
SEVERITIES = {"critical": "critical", "error": "high", "warning": "normal", "info": "low"}
UNSET = msgspec.UNSET


class Image(msgspec.Struct, kw_only=True):
    src: Any = None
    href: Any = None
    alt: Any = None


class Link(msgspec.Struct, kw_only=True):
    href: Any = None
    text: Any = None


class Payload(msgspec.Struct, kw_only=True, rename={"class_": "class"}):
    summary: str | None = None
    source: str | None = None
    severity: str | None = None
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    custom_details: Any = None


class EnqueueRequest(msgspec.Struct, kw_only=True):
    """An Events API v2 event; like PagerDuty, fields it does not know are ignored."""

    routing_key: str | None = None
    event_action: str | None = None
    dedup_key: str | None = None
    payload: Payload | None = None
    images: list[Image] | None = None
    links: list[Link] | None = None
    client: str | None = None
    client_url: str | None = None


class EnqueueAccepted(msgspec.Struct):
    status: str
    message: str
    dedup_key: str


class EnqueueRefused(msgspec.Struct):
    """PagerDuty's error body: status "invalid event" (or "unavailable" with 503)."""

    status: str
    message: str
    errors: list[str]


class InvalidEvent(Exception):
    def __init__(self, *errors: str) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


def invalid_event(errors: list[str], status: int = 400) -> JSONResponse:
    return JSONResponse({"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                        status_code=status)


def read_event(raw: bytes) -> EnqueueRequest:
    try:
        return decode_struct(raw, EnqueueRequest)
    except DomainError as error:
        raise InvalidEvent(error.message) from None


def alert_of(event: EnqueueRequest, request: Request) -> tuple[AlertMessage, str]:
    """The event as an AlertMessage and its dedup key; raises InvalidEvent naming every problem."""
    action = event.event_action
    if not action:
        raise InvalidEvent("'event_action' is missing or blank")
    if action not in ("trigger", "acknowledge", "resolve"):
        raise InvalidEvent("'event_action' is invalid (must be trigger, acknowledge or resolve)")
    dedup_key = event.dedup_key
    if dedup_key is not None and (not dedup_key.strip() or len(dedup_key) > MAX_DEDUP_KEY):
        raise InvalidEvent(f"'dedup_key' must be 1-{MAX_DEDUP_KEY} characters")
    if action != "trigger":
        if dedup_key is None:
            raise InvalidEvent("'dedup_key' is missing or blank")
        return AlertMessage(source="pagerduty", key=dedup_key, action=action,  # type: ignore[arg-type]
                            status="resolved" if action == "resolve" else None,
                            op_id=request.headers.get("idempotency-key")), dedup_key
    payload = event.payload
    errors = []
    if payload is None:
        raise InvalidEvent("'payload' is missing")
    if not (payload.summary or "").strip():
        errors.append("'payload.summary' is missing or blank")
    if not (payload.source or "").strip():
        errors.append("'payload.source' is missing or blank")
    if payload.severity not in SEVERITIES:
        errors.append("'payload.severity' is missing or invalid (must be critical, error, warning or info)")
    started_at = None
    if payload.timestamp is not None:
        started_at = _timestamp_ms(payload.timestamp)
        if started_at is None:
            errors.append("'payload.timestamp' must be an ISO 8601 date and time")
    if errors:
        raise InvalidEvent(*errors)
    dedup_key = dedup_key or uuid.uuid4().hex
    attrs: dict[str, Any] = {"source": payload.source, "dedup_key": dedup_key}
    for name, value in (("component", payload.component), ("group", payload.group), ("class", payload.class_)):
        if value:
            attrs[name] = value
    if isinstance(payload.custom_details, dict) and payload.custom_details:
        attrs["details"] = payload.custom_details
    elif payload.custom_details not in (None, {}, ""):
        attrs["details"] = {"value": payload.custom_details}
    actions = [link_action(link.text if isinstance(link.text, str) else None, link.href) for link in event.links or ()]
    actions.append(link_action(event.client, event.client_url))
    images = [image.src for image in event.images or () if isinstance(image.src, str)]
    return AlertMessage(
        source="pagerduty", key=dedup_key, action="trigger", title=payload.summary, message=payload.summary,
        severity=SEVERITIES[payload.severity], status="triggered", attrs=attrs, images=images,  # type: ignore[index]
        actions=[action for action in actions if action is not None], started_at=started_at,
        event_type=request.headers.get("x-event-type") or None, op_id=request.headers.get("idempotency-key"),
    ), dedup_key


def _timestamp_ms(text: str) -> int | None:
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def presented_tokens(request: Request, event: EnqueueRequest) -> list[str]:
    found = [event.routing_key.strip()] if event.routing_key and event.routing_key.strip() else []
    header = request.headers.get("x-routing-key", "").strip()
    if header:
        found.append(header)
    return found


async def enqueue(request: Request) -> Response:
    """Trigger, acknowledge or resolve the event a dedup_key names in the routing key's channel."""
    runtime = request.app.state.runtime
    service = IntakeService(runtime.writer, runtime.channel_tokens, runtime.reader)
    try:
        raw = await read_body(request, MAX_BODY_BYTES)
        event = read_event(raw)
        credentials = presented_tokens(request, event)
        if not credentials:
            raise InvalidEvent("'routing_key' is missing or blank")
        try:
            token = await service.authenticate(credentials)
        except DomainError as error:
            if error.status == 401:
                raise InvalidEvent("Invalid routing key") from None
            raise
        alert, dedup_key = alert_of(event, request)
        outcome, _ = await service.alert(token, alert)
    except InvalidEvent as invalid:
        return invalid_event(invalid.errors)
    except DomainError as error:
        if error.status == 413:
            return invalid_event([error.message], status=413)
        if error.status < 500:
            return invalid_event([error.message])
        return JSONResponse({"status": "unavailable", "message": error.message, "errors": [error.message]},
                            status_code=error.status, headers=error.headers)
    if isinstance(outcome, DomainError) and outcome.code != "keyed_event_not_found":
        return invalid_event([outcome.message])
    return JSONResponse({"status": "success", "message": "Event processed", "dedup_key": dedup_key},
                        status_code=202)


routes = [
    Route("/v2/enqueue", enqueue, methods=["POST"], name="pagerduty_enqueue"),
]
