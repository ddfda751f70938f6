"""Seed 003: the event-type registry at /api/b/v2/events. Workspace API keys (types:read,
types:write); errors in the §2 envelope; successes exactly as the seed shows them.

Bodies are JSON objects. Like the seed-002 resource, a JSON body sent with curl's default
form content type (`curl -d '{…}'`) is accepted, and so is a form body (`-d name=… -d code=…`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.bodies import convert_struct, decode_struct, is_json_content_type, read_body
from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.key_auth import require_key
from eventgate.auth.keys import ApiKey
from eventgate.domain.errors import DomainError, bad_request
from eventgate.service.event_types import DEFAULT_PER_PAGE, EventTypeRegistry
from eventgate.store.event_types import EventType

MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"^[0-9]{1,19}\Z")
_SIGNED_DIGITS = re.compile(r"^[+-]?[0-9]+\Z")
_MISSING_FIELD = re.compile(r"missing required field `([^`]*)`")
_FORM_TYPES = ("", "application/x-www-form-urlencoded", "text/plain")


class EventTypeFields(msgspec.Struct, forbid_unknown_fields=True):
    """The body of create and update: both fields are required."""

    name: Annotated[str, msgspec.Meta(description="1-256 characters")]
    code: Annotated[str, msgspec.Meta(
        description="1-64 of A-Z, a-z, 0-9 and '_'; unique in the workspace ignoring case")]


class EventTypeView(msgspec.Struct):
    id: int
    name: str
    code: str
    status: int  # 1 active, 0 inactive
    type: str  # "CUSTOM" or "SYSTEM"


class EventTypeCreated(msgspec.Struct):
    id: int


class Pagination(msgspec.Struct):
    page: int
    per_page: int
    total_pages: int
    total_count: int


class EventTypePage(msgspec.Struct):
    data: list[EventTypeView]
    pagination: Pagination


def type_view(found: EventType) -> EventTypeView:
    return EventTypeView(found.id, found.name, found.code, found.status, found.type)


# -- parsing ----------------------------------------------------------------------------------


def path_type_id(request: Request) -> int:
    raw = request.path_params["id"]
    if not _DIGITS.match(raw) or not 1 <= int(raw) <= MAX_ID:
        raise bad_request("id_invalid", f"id must be a positive integer (got {raw[:40]!r})", "id")
    return int(raw)


def query_number(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name, "").strip()
    if not raw:  # `?page=&per_page=` means the defaults
        return default
    if not _SIGNED_DIGITS.match(raw):
        raise bad_request(f"{name}_invalid", f"{name} must be an integer (got {raw[:40]!r})", name)
    digits = raw.lstrip("+-")
    # More digits than any sensible page: keep the sign, let the range checks word the error.
    value = int(digits) if len(digits) <= 18 else 10**18
    return -value if raw.startswith("-") else value


def _form_fields(body: bytes) -> EventTypeFields:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise bad_request("invalid_form", "the request body is neither a JSON object nor a form") from None
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            raise bad_request(f"{name}_invalid", f"{name} is given more than once", name)
        fields[name] = value
    return convert_struct(fields, EventTypeFields)


async def type_fields(request: Request) -> EventTypeFields:
    """`{name, code}` from a JSON body (or a form body); 400 names the offending field."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    body = await read_body(request)
    try:
        if is_json_content_type(content_type):
            return decode_struct(body, EventTypeFields)
        if media in _FORM_TYPES:
            if body.lstrip()[:1] in (b"{", b"[", b""):  # curl -d '{…}' sends the form content type
                return decode_struct(body, EventTypeFields)
            if media == "application/x-www-form-urlencoded":
                return _form_fields(body)
    except DomainError as error:
        missing = _MISSING_FIELD.search(error.message)
        if error.code == "invalid_request" and missing:
            name = missing.group(1)
            raise bad_request(f"{name}_required", f"{name} is required", name) from None
        raise
    raise DomainError(415, "unsupported_media_type", "send the body as JSON (Content-Type: application/json)")


# -- endpoints --------------------------------------------------------------------------------


async def require_registry_writer(request: Request) -> ApiKey:
    """A key that may change the registry: scope types:write and no channel restriction, since
    the registry is the whole workspace's (a key restricted to channels gets 403)."""
    key = await require_key(request, "types:write")
    if key.channel_ids is not None:
        raise DomainError(403, "channel_forbidden",
                          "a key restricted to channels may not change the workspace's event types")
    return key


def _registry(request: Request) -> EventTypeRegistry:
    return EventTypeRegistry(request.app.state.runtime.database)


async def list_types(request: Request) -> Response:
    """List the workspace's event types, SYSTEM and CUSTOM, a page at a time (scope types:read)."""
    try:
        key = await require_key(request, "types:read")
        page = query_number(request, "page", 1)
        per_page = query_number(request, "per_page", DEFAULT_PER_PAGE)
        found = await _registry(request).list_page(key.workspace_id, page, per_page)
    except DomainError as error:
        return failure(error)
    return JSONResponse(EventTypePage(
        data=[type_view(t) for t in found.types],
        pagination=Pagination(found.page, found.per_page, found.total_pages, found.total_count),
    ))


async def create_type(request: Request) -> Response:
    """Register a CUSTOM event type (scope types:write) → 201 {"id": …}."""
    try:
        key = await require_registry_writer(request)
        fields = await type_fields(request)
        created = await _registry(request).create(key.workspace_id, fields.name, fields.code)
    except DomainError as error:
        return failure(error)
    return JSONResponse(EventTypeCreated(created.id), status_code=201)


async def get_type(request: Request) -> Response:
    """One event type (scope types:read)."""
    try:
        key = await require_key(request, "types:read")
        found = await _registry(request).get(key.workspace_id, path_type_id(request))
    except DomainError as error:
        return failure(error)
    return JSONResponse(type_view(found))


async def update_type(request: Request) -> Response:
    """Change a CUSTOM type's name and code (scope types:write); its events keep it."""
    try:
        key = await require_registry_writer(request)
        type_id = path_type_id(request)
        fields = await type_fields(request)
        updated = await _registry(request).update(key.workspace_id, type_id, fields.name, fields.code)
    except DomainError as error:
        return failure(error)
    return JSONResponse(type_view(updated))


async def delete_type(request: Request) -> Response:
    """Delete a CUSTOM type that no stored event carries (scope types:write) → 204."""
    try:
        key = await require_registry_writer(request)
        await _registry(request).delete(key.workspace_id, path_type_id(request))
    except DomainError as error:
        return failure(error)
    return Response(status_code=204)


def _status_endpoint(active: bool):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        try:
            key = await require_registry_writer(request)
            await _registry(request).set_active(key.workspace_id, path_type_id(request), active)
        except DomainError as error:
            return failure(error)
        return Response(status_code=204)

    endpoint.__name__ = "activate_type" if active else "deactivate_type"
    endpoint.__doc__ = ("Activate an event type (scope types:write) → 204." if active else
                        "Deactivate an event type: new events of it are refused (scope types:write) → 204.")
    return endpoint


routes = [
    Route("/api/b/v2/events", list_types, methods=["GET"], name="list_event_types"),
    Route("/api/b/v2/events", create_type, methods=["POST"], name="create_event_type"),
    Route("/api/b/v2/events/{id}", get_type, methods=["GET"], name="get_event_type"),
    Route("/api/b/v2/events/{id}", update_type, methods=["PUT"], name="update_event_type"),
    Route("/api/b/v2/events/{id}", delete_type, methods=["DELETE"], name="delete_event_type"),
    Route("/api/b/v2/events/{id}/activate", _status_endpoint(True), methods=["POST"], name="activate_event_type"),
    Route("/api/b/v2/events/{id}/deactivate", _status_endpoint(False), methods=["POST"],
          name="deactivate_event_type"),
]
