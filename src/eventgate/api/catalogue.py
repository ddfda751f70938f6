"""What every route is, for the OpenAPI document: method, path, types, scope, errors.

Add an entry here when adding a route; tests check that every route is listed."""

from __future__ import annotations

import msgspec

from eventgate.api.intake_catalogue import intake_operations
from eventgate.api.lifecycle_fields import BodyFormRequest, PathFormRequest
from eventgate.api.openapi import ApiOperation
from eventgate.api.type_registry import EventTypeCreated, EventTypeFields, EventTypePage, EventTypeView


class LifecycleAccepted(msgspec.Struct):
    channel_id: str
    op_id: str
    event_id: str
    thing_id: str | None
    accepted: bool


class LifecycleEnvelope(msgspec.Struct):
    success: bool
    data: LifecycleAccepted
    error: None
    error_code: None


class PathFormAccepted(msgspec.Struct):
    event_id: str


PRODUCER_ERRORS = (400, 401, 403, 404, 409, 413, 415, 429)


def operations() -> list[ApiOperation]:
    ops: list[ApiOperation] = []
    for kind in ("create", "update", "close"):
        ops.append(ApiOperation("POST", f"/event/{kind}", f"{kind.capitalize()} an event (channel in the body)",
                                "Channel events (body form)", BodyFormRequest, LifecycleEnvelope,
                                security="gateway", errors=PRODUCER_ERRORS))
        ops.append(ApiOperation("POST", f"/v1/channel/{{channel_id}}/event/{kind}",
                                f"{kind.capitalize()} an event (channel in the path)",
                                "Channel events (path form)", PathFormRequest, PathFormAccepted,
                                security="gateway", errors=PRODUCER_ERRORS))
    ops.extend(events_resource_operations())
    ops.extend(admin_operations())
    ops.extend(event_type_registry_operations())
    ops.extend(live_operations())
    ops.extend(dashboard_operations())
    ops.extend(intake_operations())
    for path, summary in (("/healthz", "The process is up"), ("/readyz", "Database and broker reachable"),
                          ("/metrics", "Prometheus metrics"), ("/openapi.json", "This document"),
                          ("/docs", "Human-readable API docs")):
        ops.append(ApiOperation("GET", path, summary, "Operations"))
    return ops


TYPES_TAG = "Event-type registry"
PAGE_PARAMETERS = (
    {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {"name": "per_page", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
)


def event_type_registry_operations() -> list[ApiOperation]:
    """Seed 003 (/api/b/v2/events)."""
    read, write = "types:read", "types:write"
    one = "/api/b/v2/events/{id}"
    return [
        ApiOperation("GET", "/api/b/v2/events", "List event types a page at a time", TYPES_TAG,
                     response=EventTypePage, security="api_key", scope=read, errors=(400, 401, 403),
                     parameters=PAGE_PARAMETERS),
        ApiOperation("POST", "/api/b/v2/events", "Register a CUSTOM event type", TYPES_TAG, EventTypeFields,
                     EventTypeCreated, security="api_key", scope=write, errors=(400, 401, 403, 413, 415),
                     success_status=201),
        ApiOperation("GET", one, "Retrieve an event type", TYPES_TAG, response=EventTypeView,
                     security="api_key", scope=read, errors=(400, 401, 403, 404)),
        ApiOperation("PUT", one, "Change an event type's name and code", TYPES_TAG, EventTypeFields,
                     EventTypeView, security="api_key", scope=write, errors=(400, 401, 403, 404, 413, 415)),
        ApiOperation("DELETE", one, "Delete an event type no stored event carries", TYPES_TAG,
                     security="api_key", scope=write, errors=(400, 401, 403, 404, 409), success_status=204),
        ApiOperation("POST", one + "/activate", "Activate an event type", TYPES_TAG,
                     security="api_key", scope=write, errors=(400, 401, 403, 404), success_status=204),
        ApiOperation("POST", one + "/deactivate", "Deactivate an event type: new events of it are refused",
                     TYPES_TAG, security="api_key", scope=write, errors=(400, 401, 403, 404), success_status=204),
    ]


def dashboard_operations() -> list[ApiOperation]:
    """The overview counts, the key's identity, and the web dashboard's page and files."""
    from eventgate.api.dashboard import WhoAmI
    from eventgate.api.stats import StatsOverviewReply

    return [
        ApiOperation("GET", "/stats/overview", "Events per hour over the last 24 h by severity, and ongoing now",
                     "Dashboard", response=StatsOverviewReply, security="api_key", scope="events:read",
                     errors=(401, 403)),
        ApiOperation("GET", "/whoami", "The presented API key: owner, workspace, scopes, channels, expiry",
                     "Dashboard", response=WhoAmI, security="api_key", errors=(401,)),
        ApiOperation("GET", "/dashboard/events/{event_id}/timeline",
                     "An event's operations, oldest first, each with what it changed (before/after)", "Dashboard",
                     security="api_key", scope="events:read", errors=(401, 403, 404)),
        ApiOperation("GET", "/", "The web dashboard", "Dashboard"),
        ApiOperation("GET", "/static/{asset}", "The web dashboard's scripts, styles and icons", "Dashboard",
                     errors=(404,)),
    ]


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


EVENT_LIST_PARAMETERS = (
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "Events per page"),
    _query("cursor", {"type": "string"}, "The next_cursor of the previous page"),
    _query("active", {"type": "boolean"}, "true: ongoing events; false: closed events"),
    _query("topic", {"type": "string"}, "Events carrying this topic"),
    _query("severity", {"type": "string", "enum": ["critical", "high", "normal", "low"]}, "Events of this severity"),
    _query("channel_id", {"type": "string"}, "Events of this channel"),
    _query("thing_id", {"type": "string"}, "Events of this thing"),
    _query("event_type", {"type": "string"}, "Events of this event-type code"),
    _query("since", {"type": "number"}, "created >= since (Unix seconds); orders the page by created"),
    _query("until", {"type": "number"}, "created <= until (Unix seconds); orders the page by created"),
    _query("q", {"type": "string", "minLength": 3, "maxLength": 256},
           "Case-insensitive text in the title or subtitle"),
)


def events_resource_operations() -> list[ApiOperation]:
    """Seed 002 (/events). Bodies may also be sent form-encoded (see README)."""
    from eventgate.api.events_resource import (
        EventCreateBody,
        EventUpdateBody,
        ResourceEvent,
        ResourceEventEnvelope,
        ResourceEventPage,
        Timeline,
    )

    read, write, tag = "events:read", "events:write", "Events"
    one = "/events/{event_id}"
    return [
        ApiOperation("GET", "/events", "List events, newest first, a page at a time", tag, response=ResourceEventPage,
                     security="api_key", scope=read, errors=(400, 401, 403), parameters=EVENT_LIST_PARAMETERS),
        ApiOperation("POST", "/events", "Create an event (JSON or form body)", tag, EventCreateBody, ResourceEvent,
                     security="api_key", scope=write, errors=(400, 401, 403, 404, 409, 413, 415),
                     success_status=201),
        ApiOperation("GET", one, "Retrieve an event", tag, response=ResourceEventEnvelope, security="api_key",
                     scope=read, errors=(400, 401, 403, 404)),
        ApiOperation("PUT", one, "Update an event: fields given change, context is replaced", tag, EventUpdateBody,
                     ResourceEvent, security="api_key", scope=write, errors=(400, 401, 403, 404, 409, 413, 415)),
        ApiOperation("DELETE", one, "Delete an event (recorded as event_deleted)", tag, security="api_key",
                     scope=write, errors=(400, 401, 403, 404), success_status=204),
        ApiOperation("GET", one + "/timeline", "An event's operations, oldest first", tag, response=Timeline,
                     security="api_key", scope=read, errors=(400, 401, 403, 404)),
    ]


def admin_operations() -> list[ApiOperation]:
    """API keys and channels of the key's workspace (scope admin)."""
    from eventgate.api.admin import (
        ChannelCreateBody,
        ChannelEnvelope,
        ChannelList,
        ChannelRenameBody,
        CreatedChannel,
        CreatedKey,
        CreatedToken,
        KeyCreateBody,
        KeyList,
        PasswordRotateBody,
        RotatedPassword,
        TokenCreateBody,
        TokenList,
    )

    tag, scope = "Administration", "admin"
    channel = "/admin/channels/{channel_id}"
    return [
        ApiOperation("GET", "/admin/keys", "List the workspace's API keys (never their secrets)", tag,
                     response=KeyList, security="api_key", scope=scope, errors=(400, 401, 403)),
        ApiOperation("POST", "/admin/keys", "Create an API key; the key is shown once", tag, KeyCreateBody,
                     CreatedKey, security="api_key", scope=scope, errors=(400, 401, 403, 413, 415),
                     success_status=201),
        ApiOperation("DELETE", "/admin/keys/{key_id}", "Revoke an API key", tag, security="api_key", scope=scope,
                     errors=(400, 401, 403, 404), success_status=204),
        ApiOperation("GET", "/admin/channels", "List the workspace's channels", tag, response=ChannelList,
                     security="api_key", scope=scope, errors=(400, 401, 403)),
        ApiOperation("POST", "/admin/channels", "Create a channel; a generated password is shown once", tag,
                     ChannelCreateBody, CreatedChannel, security="api_key", scope=scope,
                     errors=(400, 401, 403, 413, 415), success_status=201),
        ApiOperation("PATCH", channel, "Rename a channel", tag, ChannelRenameBody, ChannelEnvelope,
                     security="api_key", scope=scope, errors=(400, 401, 403, 404, 413, 415)),
        ApiOperation("DELETE", channel, "Delete a channel (its events stay; not the default channel)", tag,
                     security="api_key", scope=scope, errors=(400, 401, 403, 404, 409), success_status=204),
        ApiOperation("POST", channel + "/rotate-password",
                     "Set a channel's password, or generate one (shown once); old verifications stop at once", tag,
                     PasswordRotateBody, RotatedPassword, security="api_key", scope=scope,
                     errors=(400, 401, 403, 404, 413, 415)),
        ApiOperation("GET", channel + "/tokens", "List a channel's tokens (never the tokens themselves)", tag,
                     response=TokenList, security="api_key", scope=scope, errors=(400, 401, 403, 404)),
        ApiOperation("POST", channel + "/tokens",
                     "Create a channel token for the intake routes (ntfy, Gotify); the token is shown once", tag,
                     TokenCreateBody, CreatedToken, security="api_key", scope=scope,
                     errors=(400, 401, 403, 404, 413, 415), success_status=201),
        ApiOperation("DELETE", channel + "/tokens/{token_id}", "Revoke a channel token", tag,
                     security="api_key", scope=scope, errors=(400, 401, 403, 404), success_status=204),
    ]


LIVE_TAG = "Live subscription"
LIVE_PARAMETERS = tuple(
    {"name": name, "in": "query", "required": False, "description": description, "schema": {"type": kind}}
    for name, kind, description in (
        ("event_types", "string", "Comma list of SYSTEM or CUSTOM codes: an operation matches when its SYSTEM "
                                  "type or its event's CUSTOM type is listed"),
        ("channel_id", "string", "Comma list of channel ids"),
        ("tags", "string", "Comma list: the event carries any of them"),
        ("severity", "string", "Minimum severity: low, normal, high or critical"),
        ("thing_id", "string", "The event's thing_id (a comma list matches any)"),
        ("since", "integer", "Replay every stored matching operation after this seq, then continue live"),
        ("token", "string", "The API key, for browsers that cannot set headers"),
    )
)


def live_operations() -> list[ApiOperation]:
    """Seed 004 (WebSocket subscribe/unsubscribe) and the SSE twin; errors use the seed-004 shape."""
    from eventgate.api.live_errors import LiveError
    from eventgate.api.live_ws import UnsubscribeReply, UnsubscribeRequest

    errors = (400, 401, 403)
    return [
        ApiOperation("GET", "/api/v1/ws/subscribe",
                     "Upgrade to a WebSocket streaming one frame per committed operation (welcome, event, "
                     "heartbeat frames; close 4008 for a slow consumer)", LIVE_TAG, security="api_key",
                     scope="subscribe", errors=(*errors, 426), success_status=101, parameters=LIVE_PARAMETERS,
                     error_type=LiveError),
        ApiOperation("POST", "/api/v1/ws/unsubscribe",
                     "Remove event types from a live connection's filter without closing it", LIVE_TAG,
                     UnsubscribeRequest, UnsubscribeReply, security="api_key", scope="subscribe",
                     errors=(*errors, 404, 413, 415, 503), error_type=LiveError),
        ApiOperation("GET", "/api/v1/sse/subscribe",
                     "The same stream as Server-Sent Events (id: <seq>; resumes through Last-Event-ID)",
                     LIVE_TAG, security="api_key", scope="subscribe", errors=errors,
                     parameters=LIVE_PARAMETERS, error_type=LiveError),
    ]
