"""Gotify's message API: `POST /message`, so that anything that notifies a Gotify server
(Apprise, scripts, Uptime Kuma, …) notifies eventgate by changing its URL and token.

    POST /message   {title, message, priority, extras}   as JSON, a urlencoded form or multipart form

The token (a channel token) travels as `X-Gotify-Key`, `?token=` or `Authorization: Bearer`.
The message becomes a one-shot event in the token's channel (domain/intake.py): event_type
`gotify` unless `X-Event-Type` or `?event_type=` names one; severity from priority (≥ 8 / 5-7 /
3-4 / 0-2 → critical/high/normal/low; no priority is Gotify's default application priority, 0);
no title is the token's name, as Gotify uses the application's name; `extras` go to attrs, and
`client::notification.click.url` also becomes an action. An `Idempotency-Key` header makes a
retry a replay.

Replies are Gotify's: the message `{id, appid, message, title, priority, extras, date}` (id is
the operation's seq, appid the token's id) and errors `{"error", "errorCode", "errorDescription"}`.
"""

from __future__ import annotations

import datetime
import http
from typing import Any, AsyncIterator
from urllib.parse import parse_qsl

import msgspec
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.bodies import convert_struct, decode_struct, is_json_content_type, read_body
from eventgate.api.envelope import JSONResponse
from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError, bad_request
from eventgate.domain.intake import OneShotMessage, severity_of_gotify_priority
from eventgate.service.intake import IntakeService

UNSET = msgspec.UNSET
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_FORM_FIELDS = 50
GOTIFY_DEFAULT_PRIORITY = 0  # a Gotify application's default priority
# Any whole number a 32-bit integer holds, in JSON and in a form alike (else 400 priority_invalid).
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1


class GotifyMessage(msgspec.Struct, kw_only=True):
    """A Gotify message; like Gotify, fields it does not know are ignored."""

    title: str | None = UNSET
    message: str | None = UNSET
    priority: int | float | None = UNSET  # a whole number; JSON Schema's integer includes 5.0
    extras: dict[str, Any] | None = UNSET


class GotifyMessageReply(msgspec.Struct):
    id: int
    appid: int
    message: str
    title: str
    priority: int
    date: str
    extras: dict[str, Any] | None = None


class GotifyError(msgspec.Struct):
    """Gotify's error body."""

    error: str
    errorCode: int
    errorDescription: str


def gotify_error(error: DomainError) -> JSONResponse:
    try:
        phrase = http.HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "Error"
    return JSONResponse({"error": phrase, "errorCode": error.status, "errorDescription": error.message},
                        status_code=error.status, headers=error.headers)


def presented_tokens(request: Request) -> list[str]:
    """Every credential the request carries, in Gotify's order: header, query, bearer."""
    found = []
    if request.headers.get("x-gotify-key"):
        found.append(request.headers["x-gotify-key"].strip())
    if request.query_params.get("token"):
        found.append(request.query_params["token"].strip())
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        found.append(value.strip())
    return found


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _form_fields(request: Request, raw: bytes, media: str) -> dict[str, Any]:
    if media == MULTIPART:
        try:
            form = await MultiPartParser(request.headers, _chunks(raw), max_files=0,
                                         max_fields=MAX_FORM_FIELDS).parse()
        except MultiPartException as error:
            raise bad_request("invalid_form", f"the multipart form is invalid: {error.message}") from None
        pairs = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    else:
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise bad_request("invalid_form", "the form body must be UTF-8 field=value pairs") from None
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in ("title", "message"):
            fields[name] = value
        elif name == "priority" and value.strip():
            fields[name] = _form_priority(value)
    return fields


def _form_priority(value: str) -> int:
    text = value.strip()
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 10):
        raise bad_request("priority_invalid", "priority must be a whole number", "priority")
    return int(text)


async def read_message(request: Request) -> dict[str, Any]:
    """The fields of a Gotify message from a JSON, urlencoded or multipart body (the one input check)."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if not is_json_content_type(content_type) and media not in (FORM, MULTIPART, ""):
        raise DomainError(415, "unsupported_media_type",
                          f"send the message as application/json, {FORM} or {MULTIPART}, not {media}")
    raw = await read_body(request)
    if is_json_content_type(content_type):
        message = decode_struct(raw, GotifyMessage)
    else:
        message = convert_struct(await _form_fields(request, raw, media), GotifyMessage)
    return {name: value for name in message.__struct_fields__
            if (value := getattr(message, name)) is not UNSET and value is not None}


def one_shot(fields: dict[str, Any], request: Request) -> OneShotMessage:
    text = fields.get("message")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("message_required", "Field 'message' is required", "message")
    priority = fields.get("priority", GOTIFY_DEFAULT_PRIORITY)
    if isinstance(priority, float) and priority.is_integer():
        priority = fields["priority"] = int(priority)
    if not isinstance(priority, int) or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise bad_request("priority_invalid", f"priority must be a whole number from {PRIORITY_MIN} to "
                          f"{PRIORITY_MAX}", "priority")
    extras = fields.get("extras") or {}
    click_url = _click_url(extras)
    actions = [{"label": "Open", "url": click_url}] if click_url else []
    return OneShotMessage(
        source="gotify", title=fields.get("title"), message=text, severity=severity_of_gotify_priority(priority),
        actions=actions, attrs=extras, event_type=event_type_asked(request),
    )


def _click_url(extras: dict[str, Any]) -> str | None:
    """Gotify's `extras["client::notification"].click.url`: what a phone opens on a tap."""
    notification = extras.get("client::notification")
    click = notification.get("click") if isinstance(notification, dict) else None
    url = click.get("url") if isinstance(click, dict) else None
    if not isinstance(url, str):
        return None
    url = url.strip()
    if len(url) > rules.MAX_IMAGE_URL or not rules.is_http_url(url):
        raise bad_request("extras_invalid", "client::notification.click.url must be an http or https URL", "extras")
    return url


def event_type_asked(request: Request) -> str | None:
    return request.headers.get("x-event-type") or request.query_params.get("event_type") or None


def idempotency_key(request: Request) -> str | None:
    return request.headers.get("idempotency-key")


def _date(received_at_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(received_at_ms / 1000, datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def create_message(request: Request) -> Response:
    """Store a Gotify message as a one-shot event in the token's channel."""
    runtime = request.app.state.runtime
    service = IntakeService(runtime.writer, runtime.channel_tokens, runtime.reader)
    try:
        token = await service.authenticate(presented_tokens(request))
        fields = await read_message(request)
        outcome, event = await service.publish(token, one_shot(fields, request),
                                               idempotency_key=idempotency_key(request))
    except DomainError as error:
        if error.status == 401:
            error = DomainError(401, error.code, "you need to provide a valid access token or user credentials "
                                "to access this api", headers={"WWW-Authenticate": "Bearer"})
        return gotify_error(error)
    reply: dict[str, Any] = {
        "id": outcome.receipt.seq or event["seq"], "appid": token.id, "message": fields["message"],
        "title": event["title"], "priority": fields.get("priority", GOTIFY_DEFAULT_PRIORITY),
        "date": _date(event["created_at"]),
    }
    if fields.get("extras"):
        reply["extras"] = fields["extras"]
    return JSONResponse(reply)


routes = [
    Route("/message", create_message, methods=["POST"], name="gotify_create_message"),
]
