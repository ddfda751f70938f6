"""The destination routes (SPEC §10, api/destinations.py) for the OpenAPI document.

Kept apart from catalogue.py as intake_catalogue.py is; catalogue.operations() adds them. The
field schemas state domain/destinations.py's rules, with its limits imported: a name of 1-128
characters, a webhook's http(s) URL or an Apprise `scheme://…` URL, a filter of §6's fields."""

from __future__ import annotations

from typing import Any

from eventgate.api.openapi import ApiOperation, RequestBody
from eventgate.domain import destinations as rules
from eventgate.domain import fields
from eventgate.service.destinations import MAX_ATTEMPTS_PAGE

DESTINATIONS_TAG = "Destinations (outbound delivery)"
SCOPE = "admin"
INT64_MAX = 2**63 - 1
DESTINATION_ID_EXAMPLE = "06J0FZG1Y8XGG14VTQ4Y3G10MR"
# A URL once trimmed: no white space or control characters inside.
URL_CHARACTER = r"[^\s\x00-\x1f\x7f]"
URL = {"type": "string",
       "pattern": rf"^\s*(?={URL_CHARACTER}*://){URL_CHARACTER}{{3,{rules.MAX_URL}}}\s*$",
       "description": f"A webhook's http(s) URL, or an Apprise URL (`scheme://…`); 1-{rules.MAX_URL} characters "
                      "(trimmed), no white space or control characters",
       "examples": ["https://example.com/hooks/eventgate"]}
WEBHOOK_URL = rf"^\s*[hH][tT][tT][pP][sS]?://{URL_CHARACTER}+\s*$"
NAME = {"type": "string", "minLength": 1, "maxLength": rules.MAX_NAME, "pattern": r"\S",
        "description": f"A name for people: 1-{rules.MAX_NAME} characters (trimmed)", "examples": ["ops webhook"]}


def _one_or_more(item: dict[str, Any], description: str, example: Any) -> dict[str, Any]:
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": rules.MAX_FILTER_ITEMS},
                      {"type": "null"}],
            "description": f"{description}; one, or a list of 1-{rules.MAX_FILTER_ITEMS} (any one matches)",
            "examples": [example]}


FILTER = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "event_types": _one_or_more(
            {"type": "string", "pattern": rf"^\s*[A-Za-z0-9_]{{1,{fields.MAX_TYPE_CODE}}}\s*$"},
            "Event-type codes (SYSTEM codes too)", ["door_open"]),
        "channel_id": _one_or_more({"type": "string", "pattern": r"^[0-9A-HJKMNP-TV-Z]{26}$"}, "Channel ids",
                                   [DESTINATION_ID_EXAMPLE]),
        "tags": _one_or_more({"type": "string", "minLength": 1, "maxLength": fields.MAX_TAG}, "Tags", ["home"]),
        "thing_id": _one_or_more({"type": "string", "pattern": r"^[A-Za-z0-9_:-]{1,64}$"}, "Thing ids",
                                 ["front-door"]),
        "severity": {"anyOf": [{"type": "string", "enum": list(fields.SEVERITIES)}, {"type": "null"}],
                     "description": "The lowest severity wanted", "examples": ["high"]},
    },
    "description": "Which operations are delivered (§6's subscription filter); absent or {}: all of them",
    "examples": [{"severity": "high", "tags": ["home"]}],
}
BODY_FIELDS = {
    "name": NAME,
    "kind": {"type": "string", "enum": list(rules.KINDS),
             "description": "webhook (signed JSON, Standard Webhooks) or apprise (a notification)",
             "examples": ["webhook"]},
    "url": URL,
    "filter": FILTER,
    "enabled": {"type": "boolean", "description": "Default true", "examples": [True]},
    "repeat_every": {"anyOf": [{"type": "integer", "const": 0},
                               {"type": "integer", "minimum": rules.MIN_SCHEDULE_S, "maximum": rules.MAX_SCHEDULE_S}],
                     "description": f"Escalation (SPEC §11): remind every this many seconds "
                                    f"({rules.MIN_SCHEDULE_S}-{rules.MAX_SCHEDULE_S}) while an event it was sent "
                                    "is ongoing and unacknowledged; 0: no reminders",
                     "examples": [900]},
    "escalate_after": {"anyOf": [{"type": "integer", "const": 0},
                                 {"type": "integer", "minimum": rules.MIN_SCHEDULE_S,
                                  "maximum": rules.MAX_SCHEDULE_S}],
                       "description": f"Escalation: after this many seconds ({rules.MIN_SCHEDULE_S}-"
                                     f"{rules.MAX_SCHEDULE_S}) of an event ongoing and unacknowledged, notify "
                                     "escalate_to once (needs escalate_to); 0: no escalation",
                       "examples": [1800]},
    "escalate_to": {"type": "string", "pattern": r"^[0-9A-HJKMNP-TV-Z]{26}$",
                    "description": "The id of another destination of the workspace to escalate to "
                                   "(with escalate_after)",
                    "examples": [DESTINATION_ID_EXAMPLE]},
}
# A webhook's URL is http(s); an Apprise URL is any scheme Apprise knows.
WEBHOOK_URL_RULE = {"if": {"properties": {"kind": {"const": "webhook"}}, "required": ["kind"]},
                    "then": {"properties": {"url": {"type": "string", "pattern": WEBHOOK_URL}}}}
DESTINATION_PATH = {"destination_id": {"type": "string", "minLength": 1, "examples": [DESTINATION_ID_EXAMPLE]}}
DELIVERY_PATH = {**DESTINATION_PATH, "delivery_id": {"type": "integer", "minimum": 1, "maximum": INT64_MAX}}
DELIVERIES_QUERY = (
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS_PAGE, "default": 50},
     "description": f"Attempts per page, 1-{MAX_ATTEMPTS_PAGE}"},
    {"name": "before", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
     "description": "Only attempts older than this one: the next_before of the previous page"},
)


def destination_operations() -> list[ApiOperation]:
    from eventgate.api.destinations import (
        AttemptEnvelope,
        AttemptPage,
        DestinationCreateBody,
        DestinationEnvelope,
        DestinationList,
        DestinationUpdateBody,
        DestinationWithSecret,
        ResendEnvelope,
    )

    tag, base, one = DESTINATIONS_TAG, "/admin/destinations", "/admin/destinations/{destination_id}"
    common = {"security": "api_key", "scope": SCOPE}
    found = (400, 401, 403, 404, 503)
    return [
        ApiOperation("GET", base, "List the workspace's destinations (never their secrets)", tag,
                     response=DestinationList, errors=(400, 401, 403, 503), **common),
        ApiOperation("POST", base, "Create a destination; a webhook's signing secret is shown once", tag,
                     RequestBody("DestinationCreateBody", DestinationCreateBody, BODY_FIELDS,
                                 required=("name", "kind", "url"), extra=WEBHOOK_URL_RULE,
                                 example={"name": "ops webhook", "kind": "webhook",
                                          "url": "https://example.com/hooks/eventgate",
                                          "filter": {"severity": "high"}}),
                     DestinationWithSecret, errors=(400, 401, 403, 413, 415, 503), success_status=201, **common),
        ApiOperation("GET", one, "Retrieve a destination", tag, response=DestinationEnvelope, errors=found,
                     path_parameters=DESTINATION_PATH, **common),
        ApiOperation("PATCH", one,
                     "Change a destination's name, url, filter, enabled or escalation (its kind stays)", tag,
                     RequestBody("DestinationUpdateBody", DestinationUpdateBody, BODY_FIELDS,
                                 example={"filter": {"severity": "critical"}}),
                     DestinationEnvelope, errors=(400, 401, 403, 404, 413, 415, 503),
                     path_parameters=DESTINATION_PATH, **common),
        ApiOperation("DELETE", one, "Delete a destination with its queue and recorded attempts", tag,
                     errors=found, success_status=204, path_parameters=DESTINATION_PATH, **common),
        ApiOperation("POST", one + "/enable",
                     "Resume delivery where it stopped: operations committed meanwhile are delivered", tag,
                     response=DestinationEnvelope, errors=found, path_parameters=DESTINATION_PATH, **common),
        ApiOperation("POST", one + "/disable", "Pause delivery (the destination keeps its place)", tag,
                     response=DestinationEnvelope, errors=found, path_parameters=DESTINATION_PATH, **common),
        ApiOperation("POST", one + "/rotate-secret", "A new webhook signing secret, shown once", tag,
                     response=DestinationWithSecret, errors=(400, 401, 403, 404, 409, 503),
                     path_parameters=DESTINATION_PATH, **common),
        ApiOperation("GET", one + "/deliveries", "Delivery attempts, newest first, a page at a time", tag,
                     response=AttemptPage, errors=found, path_parameters=DESTINATION_PATH,
                     parameters=DELIVERIES_QUERY, **common),
        ApiOperation("POST", one + "/deliveries/{delivery_id}/resend",
                     "Deliver an attempt's operation again (same webhook-id), queued now", tag,
                     response=ResendEnvelope, errors=(400, 401, 403, 404, 409, 503), success_status=202,
                     path_parameters=DELIVERY_PATH, **common),
        ApiOperation("POST", one + "/test", "Send a sample message now and record the attempt", tag,
                     response=AttemptEnvelope, errors=found, path_parameters=DESTINATION_PATH, **common),
    ]
