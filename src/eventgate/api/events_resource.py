"""Seed 002: the events REST resource (`/events`). Workspace API keys; errors in the §2 envelope.

Bodies (POST, PUT) are read the way the seed's curl examples send them:
- `application/json` (or any `+json` type): a JSON object;
- `application/x-www-form-urlencoded` (curl's default for `-d`/`--data-raw`) or no content
  type: a JSON object when the body starts with `{` (`--data-raw '{…}'`), otherwise form
  fields (`-d subtitle=…`). In a form, `topics` may be repeated (`topics=a&topics=b`, also
  `topics[]=`) or comma-separated (`topics=a,b`); `context` and `actions` are JSON text.
Anything else is 415 `unsupported_media_type`. Unknown fields are 400 `unknown_field`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.bodies import convert_struct, decode_struct, is_json_content_type, read_body, sent_fields
from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.key_auth import require_channel_access, require_key
from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError, bad_request, not_found
from eventgate.domain.times import now_ms
from eventgate.ids import TOKEN_PATTERN
from eventgate.domain.views import operation_view, resource_event
from eventgate.service.event_queries import EventQueries, parse_listing
from eventgate.service.workspace_events import WorkspaceEvents

UNSET = msgspec.UNSET
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


class EventAction(msgspec.Struct, forbid_unknown_fields=True):
    """Something a person can do about the event: a labelled http(s) link."""

    label: str
    url: str


class EventCreateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /events. Required: title, subtitle, topics."""

    title: str | None = UNSET
    subtitle: str | None = UNSET
    topics: list[str] | None = UNSET
    context: dict[str, Any] | None = UNSET
    actions: list[EventAction] | None = UNSET
    channel_id: str | None = UNSET
    severity: str | None = UNSET
    event_type: str | None = UNSET


class EventUpdateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PUT /events/{id}: any of these; context replaces the event's context."""

    title: str | None = UNSET
    subtitle: str | None = UNSET
    topics: list[str] | None = UNSET
    context: dict[str, Any] | None = UNSET
    actions: list[EventAction] | None = UNSET
    severity: str | None = UNSET


class ResourceEvent(msgspec.Struct):
    """The Observli event object; every canonical field follows (docs/reference.md)."""

    id: str
    workspace_id: str
    title: str
    subtitle: str
    context: dict[str, Any]
    actions: list[EventAction]
    topics: list[str]
    created: int
    timestamp: int
    channel_id: str
    severity: str
    state: str
    event_type: str | None
    acknowledged_at: float | None
    acknowledged_by: str | None


class ResourceEventEnvelope(msgspec.Struct):
    data: ResourceEvent


class ResourceEventPage(msgspec.Struct):
    data: list[ResourceEvent]
    next_cursor: str | None


class TimelineEntry(msgspec.Struct):
    seq: int
    op_id: str
    kind: str
    event_type: str
    event_id: str
    channel_id: str
    event_time: float
    received_at: float
    fields: dict[str, Any]


class Timeline(msgspec.Struct):
    data: list[TimelineEntry]


def _form_fields(raw: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise bad_request("invalid_form", "the form body must be UTF-8 field=value pairs") from None
    values: dict[str, Any] = {}
    topics: list[str] = []
    for name, value in pairs:
        if name in ("topics", "topics[]"):
            topics.extend(part.strip() for part in value.split(",") if part.strip())
            values["topics"] = topics
            continue
        if name in values:
            raise bad_request(f"{name}_invalid", f"form field {name!r} may be given only once", name)
        if name in ("context", "actions"):
            try:
                values[name] = msgspec.json.decode(value)
            except (msgspec.DecodeError, RecursionError):
                kind = "an object" if name == "context" else "an array"
                raise bad_request(f"{name}_invalid", f"{name} must be {kind} written as JSON", name) from None
        else:
            values[name] = value
    return values


async def read_event_body(request: Request, struct_type: type) -> dict[str, Any]:
    """The fields a POST/PUT sent, decoded from JSON or a form (see the module docstring)."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if not is_json_content_type(content_type) and media not in (FORM_MEDIA_TYPE, ""):
        raise DomainError(415, "unsupported_media_type",
                          f"send the body as application/json or {FORM_MEDIA_TYPE}, not {media}")
    raw = await read_body(request)
    if is_json_content_type(content_type) or raw.lstrip()[:1] == b"{":
        body = decode_struct(raw, struct_type)
    else:
        body = convert_struct(_form_fields(raw), struct_type)
    fields = sent_fields(body)
    if "actions" in fields:
        fields["actions"] = [msgspec.structs.asdict(action) for action in fields["actions"]]
    return fields


def refuse_query_parameters(request: Request) -> None:
    for name in request.query_params:
        raise bad_request("unknown_parameter", f"unknown query parameter {name!r}; this route takes none", name)


def event_id_of(request: Request) -> str:
    """The id in the path; one that no event can have is simply not found (no query needed)."""
    event_id = request.path_params["event_id"]
    if len(event_id) > 128 or not TOKEN_PATTERN.match(event_id):
        raise not_found("event_not_found", f"event {event_id[:128]!r} does not exist")
    return event_id


def idempotency_key(request: Request) -> str | None:
    """The `Idempotency-Key` header: the same rules as an op_id (1-128 of [A-Za-z0-9_:-])."""
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    return rules.token(value, "idempotency_key", 128)


def workspace_events_of(request: Request) -> WorkspaceEvents:
    runtime = request.app.state.runtime
    return WorkspaceEvents(runtime.database, runtime.writer, runtime.reader)


async def create_event(request: Request) -> Response:
    """Create an event (scope events:write) → 201 with the event object."""
    try:
        key = await require_key(request, "events:write")
        refuse_query_parameters(request)
        body = await read_event_body(request, EventCreateBody)
        event = await workspace_events_of(request).create(key, body, idempotency_key=idempotency_key(request))
    except DomainError as error:
        return failure(error)
    return JSONResponse(resource_event(event, now_ms()), status_code=201)


async def list_events(request: Request) -> Response:
    """Events of the key's workspace, newest first (scope events:read) → {"data": [...], "next_cursor"}."""
    try:
        key = await require_key(request, "events:read")
        listing = parse_listing(request.query_params.multi_items(), key)
        rows, next_cursor = await EventQueries(request.app.state.runtime.database).page(listing)
    except DomainError as error:
        return failure(error)
    now = now_ms()
    return JSONResponse({"data": [resource_event(event, now) for event in rows], "next_cursor": next_cursor})


async def get_event(request: Request) -> Response:
    """Retrieve an event (scope events:read) → {"data": <event>}."""
    try:
        key = await require_key(request, "events:read")
        refuse_query_parameters(request)
        event = await request.app.state.runtime.reader.event(key.workspace_id, event_id_of(request))
        require_channel_access(key, event["channel_id"])
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": resource_event(event, now_ms())})


async def update_event(request: Request) -> Response:
    """Update an event (scope events:write): fields given change, context is replaced → the event object."""
    try:
        key = await require_key(request, "events:write")
        refuse_query_parameters(request)
        body = await read_event_body(request, EventUpdateBody)
        event = await workspace_events_of(request).update(key, event_id_of(request), body,
                                               idempotency_key=idempotency_key(request))
    except DomainError as error:
        return failure(error)
    return JSONResponse(resource_event(event, now_ms()))


async def delete_event(request: Request) -> Response:
    """Delete an event (scope events:write) → 204; recorded as an event_deleted operation."""
    try:
        key = await require_key(request, "events:write")
        refuse_query_parameters(request)
        await workspace_events_of(request).delete(key, event_id_of(request), idempotency_key=idempotency_key(request))
    except DomainError as error:
        return failure(error)
    return Response(status_code=204)


async def get_timeline(request: Request) -> Response:
    """An event's operations, oldest first (scope events:read) → {"data": [...]}."""
    try:
        key = await require_key(request, "events:read")
        refuse_query_parameters(request)
        reader = request.app.state.runtime.reader
        event = await reader.event(key.workspace_id, event_id_of(request))
        require_channel_access(key, event["channel_id"])
        operations = await reader.timeline(event)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": [operation_view(op) for op in operations]})


routes = [
    Route("/events", list_events, methods=["GET"], name="list_events"),
    Route("/events", create_event, methods=["POST"], name="create_event"),
    Route("/events/{event_id}", get_event, methods=["GET"], name="get_event"),
    Route("/events/{event_id}", update_event, methods=["PUT"], name="update_event"),
    Route("/events/{event_id}", delete_event, methods=["DELETE"], name="delete_event"),
    Route("/events/{event_id}/timeline", get_timeline, methods=["GET"], name="get_event_timeline"),
]
