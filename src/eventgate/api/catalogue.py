"""What every route is, for the OpenAPI document: method, path, body fields, types, scope, errors.

Add an entry here when adding a route; tests check that every route is listed. The field
schemas state the rules the server applies (domain/fields.py and the services own them; the
limits are imported, not copied) so that the document stays true: a request the schema calls
valid is one the server accepts, and each required field is required by the server too.
"""

from __future__ import annotations

from typing import Any

import msgspec

from eventgate.api.events_resource import TimelineEntry
from eventgate.api.destinations_catalogue import destination_operations
from eventgate.api.intake_catalogue import intake_operations
from eventgate.api.phones_catalogue import phone_operations
from eventgate.api.lifecycle_fields import BodyFormRequest, PathFormRequest
from eventgate.api.openapi import ApiOperation, RequestBody
from eventgate.api.phone_setup import PhoneSetupEnvelope
from eventgate.api.type_registry import EventTypeCreated, EventTypeFields, EventTypePage, EventTypeView
from eventgate.domain import fields as rules
from eventgate.domain.resource_commands import MAX_ACTION_LABEL, MAX_ACTIONS
from eventgate.domain.times import MAX_SECONDS, MILLISECONDS_THRESHOLD
from eventgate.service.event_queries import MAX_LIMIT, MAX_TEXT_LENGTH
from eventgate.service.event_types import MAX_NAME, MAX_OFFSET, MAX_PER_PAGE

INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}
# "Not empty after trimming": at least one character that is not white space.
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"  # what Python's strip() leaves: it also strips \x1c-\x1f and \x85
CHANNEL_ID_EXAMPLE = "06J0FZG1Y8XGG14VTQ4Y3G10MR"
# 8-128 characters once white space around them is trimmed.
PASSWORD_PATTERN = r"^\s*\S[\s\S]{6,126}\S\s*$"


def token(max_length: int, description: str, example: str) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^[A-Za-z0-9_:-]{{1,{max_length}}}$", "description": description,
            "examples": [example]}


def text(max_length: int, description: str, example: str, *, trimmed: bool = True) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NOT_BLANK,
            "description": description + (" (trimmed)" if trimmed else ""), "examples": [example]}


TYPE_CODE = {"type": "string", "pattern": f"^[A-Za-z0-9_]{{1,{rules.MAX_TYPE_CODE}}}$",
             "description": f"An event-type code: 1-{rules.MAX_TYPE_CODE} of A-Z, a-z, 0-9 and '_'",
             "examples": ["door_open"]}
SEVERITY = {"type": "string", "enum": list(rules.SEVERITIES), "default": "normal",
            "description": "critical, high, normal or low (any letter case)", "examples": ["high"]}
# Unix seconds, or milliseconds from 10^12 on; a numeric string is read the same way.
UNIX_TIME = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
        # (milliseconds past the last whole second of year 9999 are refused)
        {"type": "integer", "minimum": MILLISECONDS_THRESHOLD, "maximum": MAX_SECONDS * 1000},
        {"type": "string", "pattern": r"^[0-9]{1,11}(\.[0-9]{1,3})?$"},
        {"type": "string", "pattern": r"^[1-9][0-9]{12}$"},
    ],
    "description": "Unix time in seconds (a number or a numeric string); values of 10^12 and more are "
                   "milliseconds",
    "examples": [1713750000],
}
HTTP_URL = {"type": "string", "maxLength": rules.MAX_IMAGE_URL,
            "pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$",
            "description": "An http or https URL", "examples": ["https://example.com/cam/door.jpg"]}
SCALAR = {"anyOf": [{"type": "string", "maxLength": 128}, {"type": "number", **INT64}, {"type": "boolean"},
                    {"type": "null"}]}
ATTRS = {
    "type": "object", "maxProperties": 8,
    "propertyNames": {"minLength": 1, "maxLength": 64},
    "additionalProperties": {"anyOf": [
        SCALAR,
        {"type": "object", "maxProperties": 4, "propertyNames": {"minLength": 1, "maxLength": 64},
         "additionalProperties": SCALAR},
    ]},
    "description": "Scalars, or objects one level deep of scalars; no arrays; at most 16 KiB as JSON",
    "examples": [{"door": "front", "battery": {"level": 87}}],
}
METADATA = {
    "type": "object", "maxProperties": 16,
    "propertyNames": {"minLength": 1, "maxLength": rules.MAX_METADATA_KEY},
    "additionalProperties": {"anyOf": [{"type": "string", "maxLength": rules.MAX_METADATA_VALUE},
                                       {"type": "number", **INT64}, {"type": "boolean"}]},
    "description": f"String, number or boolean values; keys of 1-{rules.MAX_METADATA_KEY} characters, "
                   f"strings of at most {rules.MAX_METADATA_VALUE}; replaced whole",
    "examples": [{"firmware": "1.4.2"}],
}
TAGS = {"type": "array", "maxItems": rules.MAX_LIST_ITEMS,
        "items": {"type": "string", "minLength": 1, "maxLength": rules.MAX_TAG, "pattern": NOT_BLANK},
        "description": f"At most {rules.MAX_LIST_ITEMS}, each 1-{rules.MAX_TAG} characters (trimmed, "
                       "duplicates dropped)",
        "examples": [["home", "security"]]}

# -- seeds 000 and 001: the channel lifecycle ---------------------------------------------------

LIFECYCLE_FIELDS: dict[str, dict[str, Any]] = {
    "channel_id": {"type": "string", "minLength": 1, "description": "The channel to write to",
                   "examples": [CHANNEL_ID_EXAMPLE]},
    "password": {"type": "string", "pattern": PASSWORD_PATTERN,
                 "description": "The channel's password: 8-128 characters (trimmed)",
                 "examples": ["correct-horse-battery"]},
    "op_id": token(128, "Names this operation for idempotent retries; generated when absent", "door-42:open"),
    "thing_id": token(64, "The device or thing the event is about", "front-door"),
    "event_id": token(128, "The event", "evt_01HV3W6N5P9C8Z"),
    "title": text(rules.MAX_TITLE, "A short title", "Front door opened"),
    "description": {"type": "string", "maxLength": rules.MAX_DESCRIPTION,
                    "description": f"Longer text, at most {rules.MAX_DESCRIPTION} characters; \"\" means absent",
                    "examples": ["Opened with the code of user 3"]},
    "status": text(rules.MAX_STATUS, "The producer's own status word", "investigating"),
    "message": text(rules.MAX_MESSAGE, "What happened", "The front door is open", trimmed=False),
    "severity": SEVERITY,
    "event_time": UNIX_TIME,
    "started_at": {**UNIX_TIME, "description": "When the event started (create only; default event_time)"},
    "ended_at": {**UNIX_TIME, "description": "When the event ended (close only; default event_time)"},
    "tags": TAGS,
    "images": {"type": "array", "maxItems": rules.MAX_LIST_ITEMS, "items": HTTP_URL,
               "description": f"At most {rules.MAX_LIST_ITEMS} http(s) URLs of at most {rules.MAX_IMAGE_URL} "
                              "characters", "examples": [["https://example.com/cam/door.jpg"]]},
    "attrs": {**ATTRS, "description": "A merge patch on the event's attrs: a null value deletes the key; "
                                      "scalars, or objects one level deep of scalars; no arrays"},
    "metadata": METADATA,
    "event_type": TYPE_CODE,
}
BODY_FORM_EXAMPLES = {
    "create": {"channel_id": CHANNEL_ID_EXAMPLE, "password": "correct-horse-battery", "title": "Front door opened",
               "status": "open", "message": "The front door is open", "severity": "high",
               "event_time": 1713750000},
    "update": {"channel_id": CHANNEL_ID_EXAMPLE, "password": "correct-horse-battery", "event_id": "evt_01HV3W6N5P9C8Z",
               "status": "still open", "message": "Open for 5 minutes", "severity": "high",
               "event_time": 1713750300},
    "close": {"channel_id": CHANNEL_ID_EXAMPLE, "password": "correct-horse-battery", "event_id": "evt_01HV3W6N5P9C8Z",
              "status": "closed", "message": "The front door is closed", "severity": "normal",
              "event_time": 1713750600},
}
PATH_FORM_EXAMPLES = {
    "create": {"password": "correct-horse-battery", "event_type": "door_open", "title": "Front door opened"},
    "update": {"password": "correct-horse-battery", "event_id": "front-door-1", "attrs": {"open_for": "5m"}},
    "close": {"password": "correct-horse-battery", "event_id": "front-door-1"},
}
# Fields an operation refuses (400 started_at_forbidden, ended_at_forbidden, event_id_forbidden_on_create).
FORBIDDEN = {"create": ("ended_at",), "update": ("started_at", "ended_at"), "close": ("started_at",)}


def body_form_request(kind: str) -> RequestBody:
    """Seed 001: strict — every business field required (SPEC §2)."""
    required = {"create": ("title",), "update": ("event_id",), "close": ("event_id",)}[kind]
    omit = FORBIDDEN[kind] + (("event_id",) if kind == "create" else ())
    return RequestBody(
        f"BodyForm{kind.capitalize()}Request", BodyFormRequest, LIFECYCLE_FIELDS,
        required=("channel_id", "password", *required, "status", "message", "severity", "event_time"),
        omit=omit, example=BODY_FORM_EXAMPLES[kind],
        description=f"{kind.capitalize()} an event in the channel named in the body (seed 001)")


def path_form_request(kind: str) -> RequestBody:
    """Seed 000: sensible defaults (title = event_type, status = ongoing/closed, message = title,
    event_time = now); event_type required on create, event_id on update and close."""
    fields = dict(LIFECYCLE_FIELDS)
    if kind == "create":
        fields["event_id"] = token(64, "The new event's id (generated when absent; 409 event_exists if taken)",
                                   "front-door-1")
    required = ("password", "event_type") if kind == "create" else ("password", "event_id")
    return RequestBody(f"PathForm{kind.capitalize()}Request", PathFormRequest, fields, required=required,
                       omit=FORBIDDEN[kind], example=PATH_FORM_EXAMPLES[kind],
                       description=f"{kind.capitalize()} an event in the channel named in the path (seed 000)")


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


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    """`status` is "ready" (200) or "unavailable" (503); `checks` says which part failed."""

    status: str
    checks: dict[str, bool]


PRODUCER_ERRORS = (400, 401, 403, 404, 409, 413, 415, 429, 503)
CHANNEL_PATH = {"channel_id": {"type": "string", "minLength": 1, "examples": [CHANNEL_ID_EXAMPLE]}}


def operations() -> list[ApiOperation]:
    ops: list[ApiOperation] = []
    for kind in ("create", "update", "close"):
        ops.append(ApiOperation("POST", f"/event/{kind}", f"{kind.capitalize()} an event (channel in the body)",
                                "Channel events (body form)", body_form_request(kind), LifecycleEnvelope,
                                security="gateway", errors=PRODUCER_ERRORS))
        ops.append(ApiOperation("POST", f"/v1/channel/{{channel_id}}/event/{kind}",
                                f"{kind.capitalize()} an event (channel in the path)",
                                "Channel events (path form)", path_form_request(kind), PathFormAccepted,
                                security="gateway", errors=PRODUCER_ERRORS, path_parameters=CHANNEL_PATH))
    ops.extend(events_resource_operations())
    ops.extend(admin_operations())
    ops.extend(destination_operations())
    ops.extend(event_type_registry_operations())
    ops.extend(live_operations())
    ops.extend(dashboard_operations())
    ops.append(ApiOperation("GET", "/healthz", "The process is up", "Operations", response=Health))
    ops.append(ApiOperation("GET", "/readyz", "Database and broker reachable", "Operations", response=Readiness,
                            errors=(503,), error_type=Readiness))
    ops.append(ApiOperation("GET", "/metrics", "Prometheus metrics", "Operations", media_type="text/plain"))
    ops.append(ApiOperation("GET", "/openapi.json", "This document", "Operations", media_type="application/json"))
    ops.append(ApiOperation("GET", "/docs", "This API reference, readable", "Operations", media_type="text/html"))
    ops.extend(intake_operations())
    ops.extend(phone_operations())
    return ops


# -- seed 003: the event-type registry ------------------------------------------------------------

TYPES_TAG = "Event-type registry"
PAGE_PARAMETERS = (
    {"name": "page", "in": "query", "required": False,
     "description": f"The page (1-based); a page may start at most at record {MAX_OFFSET:,} (400 beyond): "
                    f"(page - 1) * per_page <= {MAX_OFFSET:,}",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_OFFSET + 1, "default": 1}},
    {"name": "per_page", "in": "query", "required": False, "description": "Types per page",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 20}},
)
TYPE_ID = {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1, "examples": [5],
                  "description": "The type's id (the SYSTEM types come first)"}}
TYPE_FIELDS = {
    "name": {**text(MAX_NAME, f"1-{MAX_NAME} characters, no control characters", "Door opened"),
             "pattern": r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"},
    "code": {**TYPE_CODE, "description": TYPE_CODE["description"] + "; unique in the workspace ignoring case "
                                                                    "(a taken code is 400)"},
}
TYPE_BODY = RequestBody("EventTypeFields", EventTypeFields, TYPE_FIELDS, required=("name", "code"),
                        form_fields=("name", "code"),
                        example={"name": "Door opened", "code": "door_open"},
                        description="Both fields are required; also accepted as a form")


def event_type_registry_operations() -> list[ApiOperation]:
    """Seed 003 (/api/b/v2/events)."""
    read, write = "types:read", "types:write"
    one = "/api/b/v2/events/{id}"
    writer = "A key restricted to channels may not change the registry (403). SYSTEM types cannot be " \
             "changed (400)."
    return [
        ApiOperation("GET", "/api/b/v2/events", "List event types a page at a time", TYPES_TAG,
                     response=EventTypePage, security="api_key", scope=read, errors=(400, 401, 403, 503),
                     parameters=PAGE_PARAMETERS),
        ApiOperation("POST", "/api/b/v2/events", "Register a CUSTOM event type", TYPES_TAG, TYPE_BODY,
                     EventTypeCreated, security="api_key", scope=write, errors=(400, 401, 403, 413, 415, 503),
                     success_status=201, description=writer),
        ApiOperation("GET", one, "Retrieve an event type", TYPES_TAG, response=EventTypeView,
                     security="api_key", scope=read, errors=(400, 401, 403, 404, 503), path_parameters=TYPE_ID),
        ApiOperation("PUT", one, "Change an event type's name and code", TYPES_TAG, TYPE_BODY,
                     EventTypeView, security="api_key", scope=write, errors=(400, 401, 403, 404, 413, 415, 503),
                     path_parameters=TYPE_ID, description=writer),
        ApiOperation("DELETE", one, "Delete an event type no stored event carries", TYPES_TAG,
                     security="api_key", scope=write, errors=(400, 401, 403, 404, 409, 503), success_status=204,
                     path_parameters=TYPE_ID, description=writer),
        ApiOperation("POST", one + "/activate", "Activate an event type", TYPES_TAG,
                     security="api_key", scope=write, errors=(400, 401, 403, 404, 503), success_status=204,
                     path_parameters=TYPE_ID, description=writer),
        ApiOperation("POST", one + "/deactivate", "Deactivate an event type: new events of it are refused",
                     TYPES_TAG, security="api_key", scope=write, errors=(400, 401, 403, 404, 503),
                     success_status=204, path_parameters=TYPE_ID, description=writer),
    ]


class TimelineChange(msgspec.Struct):
    field: str
    change: str  # added, changed, removed or unchanged
    before: Any
    after: Any


class DashboardTimelineEntry(TimelineEntry):
    """An operation of the timeline, as the event's timeline shows it, with what it changed."""

    changes: list[TimelineChange]


class DashboardTimeline(msgspec.Struct):
    data: list[DashboardTimelineEntry]


def dashboard_operations() -> list[ApiOperation]:
    """The overview counts, the key's identity, and the web dashboard's page and files."""
    from eventgate.api.dashboard import WhoAmI
    from eventgate.api.stats import StatsOverviewReply

    return [
        ApiOperation("GET", "/stats/overview", "Events per hour over the last 24 h by severity, and ongoing now",
                     "Dashboard", response=StatsOverviewReply, security="api_key", scope="events:read",
                     errors=(400, 401, 403, 503)),
        ApiOperation("GET", "/whoami", "The presented API key: owner, workspace, scopes, channels, expiry",
                     "Dashboard", response=WhoAmI, security="api_key", errors=(401, 503)),
        ApiOperation("GET", "/dashboard/events/{event_id}/timeline",
                     "An event's operations, oldest first, each with what it changed (before/after)", "Dashboard",
                     response=DashboardTimeline, security="api_key", scope="events:read",
                     errors=(401, 403, 404, 503)),
        ApiOperation("GET", "/", "The web dashboard", "Dashboard", media_type="text/html"),
        ApiOperation("GET", "/static/{asset}", "The web dashboard's scripts, styles and icons", "Dashboard",
                     errors=(404,), media_type="*/*",
                     path_parameters={"asset": {"type": "string", "minLength": 1, "examples": ["app.js"]}}),
    ]


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


BLANK_OR_TOKEN = r"^\s*([A-Za-z0-9_:-]{1,64})?\s*$"
BLANK = {"type": "string", "pattern": r"^\s*$", "description": "empty: as if absent"}
EVENT_LIST_PARAMETERS = (
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}, "Events per page"),
    _query("cursor", {"type": "string"}, "The next_cursor of the previous page (opaque)"),
    _query("active", {"type": "boolean"}, "true: ongoing events; false: closed events"),
    _query("acknowledged", {"type": "boolean"},
           "true: events someone acknowledged; false: events nobody acknowledged (any other value is a 400)"),
    _query("topic", {"type": "string", "maxLength": rules.MAX_TAG}, "Events carrying this topic"),
    _query("severity", {"type": "string", "enum": list(rules.SEVERITIES)}, "Events of this severity"),
    _query("min_severity", {"type": "string", "enum": list(rules.SEVERITIES)},
           "Events of this severity or above (low < normal < high < critical: `high` lists high and critical); "
           "not with severity"),
    # Every parameter left empty (or blank) is as if absent: `?q=&topic=`.
    _query("channel_id", {"type": "string", "pattern": BLANK_OR_TOKEN}, "Events of this channel"),
    _query("thing_id", {"type": "string", "pattern": BLANK_OR_TOKEN}, "Events of this thing"),
    _query("event_type", {"type": "string", "pattern": rf"^\s*([A-Za-z0-9_]{{1,{rules.MAX_TYPE_CODE}}})?\s*$"},
           "Events of this event-type code"),
    _query("since", {"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_SECONDS}, BLANK]},
           "created >= since (Unix seconds); orders the page by created"),
    _query("until", {"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_SECONDS}, BLANK]},
           "created <= until (Unix seconds, not before since); orders the page by created"),
    _query("q", {"type": "string", "maxLength": MAX_TEXT_LENGTH, "pattern": r"^\s*$|[^\W_]"},
           "Case-insensitive words in the title or subtitle (at most 16; `word*` is a prefix of at least 3 "
           "letters); empty means no search"),
)
EVENT_ID = {"event_id": {"type": "string", "minLength": 1, "examples": ["evt_01HV3W6N5P9C8Z"]}}
ACTION = {"type": "object", "additionalProperties": False, "required": ["label", "url"],
          "properties": {"label": text(MAX_ACTION_LABEL, "The link's text", "Open the camera"), "url": HTTP_URL}}
RESOURCE_FIELDS = {
    "title": text(rules.MAX_TITLE, "A short title", "Disk almost full"),
    "subtitle": text(rules.MAX_MESSAGE, "What happened (the event's message)", "/var is at 93 %", trimmed=False),
    "topics": {**TAGS, "description": "The event's topics (its tags): " + TAGS["description"]},
    "context": {**ATTRS, "description": "Replaces the event's context: " + ATTRS["description"]},
    "actions": {"type": "array", "maxItems": MAX_ACTIONS, "items": ACTION,
                "description": f"At most {MAX_ACTIONS} labelled http(s) links"},
    "channel_id": {"type": "string", "pattern": "^[A-Za-z0-9_:-]{1,64}$",
                   "description": "The channel (default: the workspace's default channel); 404 if unknown",
                   "examples": [CHANNEL_ID_EXAMPLE]},
    "severity": SEVERITY,
    "event_type": TYPE_CODE,
}
# In a form, topics may be repeated or comma-separated; context and actions are JSON text.
FORM_FIELDS = ("title", "subtitle", "topics", "channel_id", "severity", "event_type")
FORM_TOPICS = {"topics": {**TAGS, "minItems": 1, "items": {"type": "string", "maxLength": rules.MAX_TAG,
                                            "pattern": r"^[^,]*\S[^,]*$"},
                          "description": "Repeated (topics=a&topics=b) or comma-separated (topics=a,b)"}}
RESOURCE_EXAMPLE = {"title": "Disk almost full", "subtitle": "/var is at 93 %", "topics": ["infra", "disk"]}


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

    create = RequestBody("EventCreateBody", EventCreateBody, RESOURCE_FIELDS, required=("title", "subtitle", "topics"),
                         form_fields=FORM_FIELDS, form_overrides=FORM_TOPICS, example=RESOURCE_EXAMPLE,
                         description="Also accepted as a form: topics repeated or comma-separated, context and "
                                     "actions as JSON text")
    update = RequestBody("EventUpdateBody", EventUpdateBody, RESOURCE_FIELDS, nullable=False, min_properties=1,
                         form_fields=FORM_FIELDS, form_overrides=FORM_TOPICS, example={"subtitle": "/var is at 97 %"},
                         description="At least one field; fields given change, context is replaced")
    idempotency = ({"name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "Makes a retry of this request a replay: 1-128 of A-Z, a-z, 0-9, '_', ':', '-'",
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_:-]{1,128}$"}},)
    read, write, tag = "events:read", "events:write", "Events"
    one = "/events/{event_id}"
    return [
        ApiOperation("GET", "/events", "List events, newest first, a page at a time", tag, response=ResourceEventPage,
                     security="api_key", scope=read, errors=(400, 401, 403, 503), parameters=EVENT_LIST_PARAMETERS),
        ApiOperation("POST", "/events", "Create an event (JSON or form body)", tag, create, ResourceEvent,
                     security="api_key", scope=write, errors=(400, 401, 403, 404, 409, 413, 415, 503),
                     success_status=201, parameters=idempotency),
        ApiOperation("GET", one, "Retrieve an event", tag, response=ResourceEventEnvelope, security="api_key",
                     scope=read, errors=(400, 401, 403, 404, 503), path_parameters=EVENT_ID),
        ApiOperation("PUT", one, "Update an event: fields given change, context is replaced", tag, update,
                     ResourceEvent, security="api_key", scope=write, errors=(400, 401, 403, 404, 409, 413, 415, 503),
                     parameters=idempotency, path_parameters=EVENT_ID),
        ApiOperation("DELETE", one, "Delete an event (recorded as event_deleted)", tag, security="api_key",
                     scope=write, errors=(400, 401, 403, 404, 409, 503), success_status=204, parameters=idempotency,
                     path_parameters=EVENT_ID),
        ApiOperation("GET", one + "/timeline", "An event's operations, oldest first", tag, response=Timeline,
                     security="api_key", scope=read, errors=(400, 401, 403, 404, 503), path_parameters=EVENT_ID),
        *people_action_operations(idempotency),
    ]


def people_action_operations(idempotency: tuple[dict, ...]) -> list[ApiOperation]:
    """Acknowledge, close and notes (SPEC §11): operations that record who acted."""
    from eventgate.api.event_actions import NoBody, NoteBody
    from eventgate.api.events_resource import ResourceEventEnvelope
    from eventgate.domain.people_actions import MAX_NOTE

    nothing = RequestBody("NoBody", NoBody, {}, optional=True, description="Nothing: an empty body or {}")
    note = RequestBody("NoteBody", NoteBody, {"text": {"type": "string", "minLength": 1, "maxLength": MAX_NOTE,
                                                        "pattern": r"[^\s\x1c-\x1f\x85]",
                                                        "description": "The note (not blank)"}},
                       required=("text",), example={"text": "Looking at it: the backup volume is full"})
    errors = (400, 401, 403, 404, 409, 413, 503)
    common = {"security": "api_key", "scope": "events:write", "errors": errors, "parameters": idempotency,
              "path_parameters": EVENT_ID}
    token = {"token": {"type": "string", "minLength": 1, "description": "The link's token, from a notification"}}
    html = "text/html; charset=utf-8"
    link_errors = {"errors": (404, 409, 410, 503), "html_errors": True, "path_parameters": token, "media_type": html}
    return [
        ApiOperation("GET", "/act/{token}", "A notification's one-tap link: shows the event and a button "
                     "(nothing happens on GET)", "Events", **link_errors,
                     description="No sign-in: the token is bound to one event and one action (acknowledge or "
                                 "close) and expires after 7 days. Link previews fetch with GET, so only the "
                                 "page's POST acts."),
        ApiOperation("POST", "/act/{token}", "Do what a one-tap link says (acknowledge or close), recorded as "
                     "\"via link\"", "Events", **link_errors),
        ApiOperation("POST", "/events/{event_id}/acknowledge", "Acknowledge the event: someone is on it (the "
                     "key's user_id is recorded)", "Events", nothing, ResourceEventEnvelope, **common),
        ApiOperation("POST", "/events/{event_id}/close", "Close (resolve) the event, recording who did",
                     "Events", nothing, ResourceEventEnvelope, **common),
        ApiOperation("POST", "/events/{event_id}/notes", "Add a note to the event's timeline", "Events", note,
                     ResourceEventEnvelope, **common),
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
    from eventgate.auth.keys import SCOPES

    key_fields = {
        "user_id": text(128, "Who owns the key (a name)", "alice"),
        "scopes": {"type": "array", "items": {"type": "string", "enum": list(SCOPES)},
                   "description": "Default: every scope except admin", "examples": [["events:read"]]},
        "channel_ids": {"type": "array", "items": {"type": "string", "examples": [CHANNEL_ID_EXAMPLE]},
                        "description": "Restrict the key to these channels of the workspace (400 if one is not)"},
        "expires_in": {"type": "integer", "minimum": 1, "maximum": 100 * 365 * 86_400,
                       "description": "Lifetime in seconds (not with expires_at)", "examples": [86400]},
        "expires_at": {"type": "number", "description": "Expiry as Unix seconds, in the future (not with "
                                                         "expires_in)", "examples": [1893456000]},
    }
    channel_fields = {
        "name": text(128, "The channel's name", "home"),
        "password": {"type": "string", "pattern": PASSWORD_PATTERN,
                     "description": "8-128 characters (trimmed); generated and shown once when absent",
                     "examples": ["correct-horse-battery"]},
    }
    tag, scope = "Administration", "admin"
    channel = "/admin/channels/{channel_id}"
    channel_path = {"channel_id": {"type": "string", "minLength": 1, "examples": [CHANNEL_ID_EXAMPLE]}}
    key_path = {"key_id": {"type": "string", "minLength": 1, "examples": ["key_0a1b2c3d4e5f"]}}
    return [
        ApiOperation("GET", "/admin/keys", "List the workspace's API keys (never their secrets)", tag,
                     response=KeyList, security="api_key", scope=scope, errors=(400, 401, 403, 503)),
        ApiOperation("POST", "/admin/keys", "Create an API key; the key is shown once", tag,
                     RequestBody("KeyCreateBody", KeyCreateBody, key_fields, required=("user_id",),
                                 extra={"not": {"required": ["expires_in", "expires_at"]}},
                                 example={"user_id": "alice", "scopes": ["events:read", "subscribe"]}),
                     CreatedKey, security="api_key", scope=scope, errors=(400, 401, 403, 413, 415, 503),
                     success_status=201),
        ApiOperation("DELETE", "/admin/keys/{key_id}", "Revoke an API key", tag, security="api_key", scope=scope,
                     errors=(400, 401, 403, 404, 503), success_status=204, path_parameters=key_path),
        ApiOperation("GET", "/admin/channels", "List the workspace's channels", tag, response=ChannelList,
                     security="api_key", scope=scope, errors=(400, 401, 403, 503)),
        ApiOperation("POST", "/admin/channels", "Create a channel; a generated password is shown once", tag,
                     RequestBody("ChannelCreateBody", ChannelCreateBody, channel_fields, required=("name",),
                                 example={"name": "home"}),
                     CreatedChannel, security="api_key", scope=scope, errors=(400, 401, 403, 413, 415, 503),
                     success_status=201),
        ApiOperation("PATCH", channel, "Rename a channel", tag,
                     RequestBody("ChannelRenameBody", ChannelRenameBody, channel_fields, required=("name",),
                                 example={"name": "garage"}),
                     ChannelEnvelope, security="api_key", scope=scope, errors=(400, 401, 403, 404, 413, 415, 503),
                     path_parameters=channel_path),
        ApiOperation("DELETE", channel, "Delete a channel (its events stay; not the default channel)", tag,
                     security="api_key", scope=scope, errors=(400, 401, 403, 404, 409, 503), success_status=204,
                     path_parameters=channel_path),
        ApiOperation("POST", channel + "/rotate-password",
                     "Set a channel's password, or generate one (shown once); old verifications stop at once", tag,
                     RequestBody("PasswordRotateBody", PasswordRotateBody, channel_fields, optional=True,
                                 example={"password": "a-new-long-password"}),
                     RotatedPassword, security="api_key", scope=scope, errors=(400, 401, 403, 404, 413, 415, 503),
                     path_parameters=channel_path),
        ApiOperation("GET", channel + "/tokens", "List a channel's tokens (never the tokens themselves)", tag,
                     response=TokenList, security="api_key", scope=scope, errors=(400, 401, 403, 404, 503),
                     path_parameters=channel_path),
        ApiOperation("POST", channel + "/tokens",
                     "Create a channel token for the intake routes (ntfy, Gotify); the token is shown once", tag,
                     RequestBody("TokenCreateBody", TokenCreateBody,
                                 {"name": text(128, "Who or what uses the token", "grafana")}, required=("name",),
                                 example={"name": "grafana"}),
                     CreatedToken, security="api_key", scope=scope,
                     errors=(400, 401, 403, 404, 413, 415, 503), success_status=201, path_parameters=channel_path),
        ApiOperation("DELETE", channel + "/tokens/{token_id}", "Revoke a channel token", tag,
                     security="api_key", scope=scope, errors=(400, 401, 403, 404, 503), success_status=204,
                     path_parameters={**channel_path, "token_id": {"type": "integer", "minimum": 1}}),
        ApiOperation("GET", channel + "/phone",
                     "What to enter in the ntfy phone app to follow a channel: server, topic, ntfy:// link and "
                     "its QR code (SVG); no secret", tag,
                     response=PhoneSetupEnvelope, security="api_key", scope=scope, errors=(400, 401, 403, 404, 503),
                     path_parameters=channel_path),
    ]


LIVE_TAG = "Live subscription"
LIVE_PARAMETERS = tuple(
    {"name": name, "in": "query", "required": False, "description": description, "schema": schema}
    for name, schema, description in (
        ("event_types", {"type": "string"}, "Comma list of SYSTEM or CUSTOM codes: an operation matches when its "
                                            "SYSTEM type or its event's CUSTOM type is listed"),
        ("channel_id", {"type": "string"}, "Comma list of channel ids"),
        ("tags", {"type": "string"}, "Comma list: the event carries any of them"),
        ("severity", {"type": "string", "enum": list(rules.SEVERITIES)}, "Minimum severity"),
        ("thing_id", {"type": "string"}, "The event's thing_id (a comma list matches any)"),
        ("since", {"type": "integer", "minimum": 0}, "Replay every stored matching operation after this seq, "
                                                     "then continue live"),
        ("token", {"type": "string"}, "The API key, for browsers that cannot set headers"),
    )
)


CODE_LIST = f"^[A-Za-z0-9_]{{1,{rules.MAX_TYPE_CODE}}}(,[A-Za-z0-9_]{{1,{rules.MAX_TYPE_CODE}}})*$"


def live_operations() -> list[ApiOperation]:
    """Seed 004 (WebSocket subscribe/unsubscribe) and the SSE twin; errors use the seed-004 shape."""
    from eventgate.api.live_errors import LiveError
    from eventgate.api.live_ws import UnsubscribeReply, UnsubscribeRequest

    unsubscribe = RequestBody(
        "UnsubscribeRequest", UnsubscribeRequest, {
            "client_id": {"type": "string", "minLength": 1, "description": "The client_id of the welcome frame",
                          "examples": ["c_5f0b1c"]},
            "event_types": {"anyOf": [{"type": "array", "items": TYPE_CODE, "minItems": 1},
                                      {"type": "string", "pattern": CODE_LIST}],
                            "description": "Codes to stop receiving: an array, or a comma-separated string",
                            "examples": [["event_updated"]]},
            "user_id": {"type": "string", "description": "The connection's owner: must be the caller"},
        }, required=("client_id", "event_types"), example={"client_id": "c_5f0b1c", "event_types": ["event_updated"]})
    errors = (400, 401, 403)
    return [
        ApiOperation("GET", "/api/v1/ws/subscribe",
                     "Upgrade to a WebSocket streaming one frame per committed operation (welcome, event, "
                     "heartbeat frames; close 4008 for a slow consumer)", LIVE_TAG, security="api_key",
                     scope="subscribe", errors=(*errors, 426), success_status=101, parameters=LIVE_PARAMETERS,
                     error_type=LiveError),
        ApiOperation("POST", "/api/v1/ws/unsubscribe",
                     "Remove event types from a live connection's filter without closing it", LIVE_TAG,
                     unsubscribe, UnsubscribeReply, security="api_key", scope="subscribe",
                     errors=(*errors, 404, 413, 415, 503), error_type=LiveError),
        ApiOperation("GET", "/api/v1/sse/subscribe",
                     "The same stream as Server-Sent Events (id: <seq>; resumes through Last-Event-ID)",
                     LIVE_TAG, security="api_key", scope="subscribe", errors=(*errors, 503),
                     parameters=LIVE_PARAMETERS, error_type=LiveError, media_type="text/event-stream"),
    ]
