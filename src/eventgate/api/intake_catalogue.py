"""The intake routes (SPEC §9) for the OpenAPI document: ntfy, Gotify, PagerDuty, Alertmanager.

Kept apart from catalogue.py so that each foreign API lists its routes beside the others';
catalogue.operations() adds them. Their bodies and errors are the foreign APIs' own shapes.
Parameters carry the limits the server applies (api/ntfy/publish.py, api/gotify.py,
domain/intake.py); the credential is a channel token, in each form the clients send it."""

from __future__ import annotations

from eventgate.api.ntfy.topics import RESERVED_TOPICS, TOPIC_PATTERN
from eventgate.api.gotify import PRIORITY_MAX as GOTIFY_PRIORITY_MAX
from eventgate.api.gotify import PRIORITY_MIN as GOTIFY_PRIORITY_MIN
from eventgate.api.openapi import ApiOperation, RequestBody
from eventgate.domain import fields as rules

INTAKE_TAG = "Intake (ntfy, Gotify, PagerDuty, Alertmanager)"


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _words(words: list[str]) -> str:
    return "|".join(_any_case(word) for word in words)


# A topic: 1-64 characters of [-_A-Za-z0-9], none of the reserved ones (in any case).
_RESERVED = sorted(topic for topic in RESERVED_TOPICS if TOPIC_PATTERN.fullmatch(topic))
TOPIC_SCHEMA = {"type": "string", "pattern": f"^(?!(?:{_words(_RESERVED)})$){TOPIC_PATTERN.pattern}$",
                "description": "The token's channel, by id or name (any other topic is 403); 1-64 characters of "
                               "A-Z, a-z, 0-9, '-' or '_', not one of eventgate's own paths "
                               f"({', '.join(_RESERVED)}, in any case)"}
# An http(s) URL as the server checks it (rules.is_http_url): a host, no whitespace.
HTTP_URL = {"type": "string", "maxLength": rules.MAX_IMAGE_URL,
            "pattern": r"^[hH][tT][tT][pP][sS]?://[-A-Za-z0-9._~%!$&'()*+,;=:@]+(?:[/?#][!-~]*)?$"}
# Python's whitespace (str.strip): also \x1c-\x1f and \x85.
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
RFC3339 = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
PRIORITY_WORDS = ["min", "low", "default", "high", "max", "urgent"]
# ntfy's message text: longer than 512 characters keeps the whole text as the description.
MESSAGE = {"type": "string", "maxLength": rules.MAX_DESCRIPTION}
TITLE = {"type": "string", "maxLength": rules.MAX_TITLE}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


NTFY_PARAMETERS = (
    _query("message", dict(MESSAGE), "The message, when the body is empty (also X-Message, m)"),
    _query("title", dict(TITLE), "The title (also X-Title, Title, ti, t; as a header or a query parameter)"),
    _query("priority", {"type": "string",
                        "pattern": rf"^\s*(?:[1-5]|{_words(PRIORITY_WORDS)})?\s*$"},
           "1-5 or min, low, default, high, max, urgent, in any case (also X-Priority, prio, p)"),
    _query("tags", {"type": "string", "pattern": rf"^[^,]{{0,{rules.MAX_TAG}}}(?:,[^,]{{0,{rules.MAX_TAG}}})"
                                                 rf"{{0,{rules.MAX_LIST_ITEMS - 1}}}$"},
           f"Comma-separated tags, at most {rules.MAX_LIST_ITEMS} of at most {rules.MAX_TAG} characters "
           "(also X-Tags, tag, ta)"),
    _query("click", {"type": "string"}, "A URL to open; an http(s) URL also becomes the event's action "
                                        "(also X-Click)"),
    _query("icon", dict(HTTP_URL), "An icon's http(s) URL (also X-Icon)"),
)
NTFY_DESCRIPTION = (
    "Parameters are read as ntfy reads them: each under every one of its names, as a header or a query "
    "parameter. Also read: `actions` (X-Actions: a JSON array or ntfy's `view, Label, https://…; …` form, at "
    "most 3; an unreadable definition is 400), `attach` (an http(s) URL), `filename`, `markdown`; `delay`, "
    "`email` and `call` are refused (400). The credential is a channel token: `Authorization: Bearer`, Basic "
    "auth whose password is the token, or `?auth=` (that header, base64url-encoded).")
NTFY_SECURITY = "ntfy"
GOTIFY_SECURITY = "gotify"
PAGERDUTY_SECURITY = "pagerduty"
ALERTMANAGER_SECURITY = "alertmanager"
PAGERDUTY_DESCRIPTION = (
    "The routing key is a channel token, in the body (or an `X-Routing-Key` header). `dedup_key` names the "
    "event in the token's channel: trigger opens it, or updates it while it is ongoing (a trigger without a "
    "dedup_key gets one, returned); acknowledge acknowledges it (by `pagerduty`); resolve closes it. "
    "An acknowledge or resolve for a key with no ongoing event is accepted and changes nothing. A trigger needs "
    "`payload` with `summary`, `source` and `severity`; acknowledge and resolve need `dedup_key`. An unknown "
    "routing key is 400 (PagerDuty's answer). `Idempotency-Key` makes a retry a replay.")
ALERTMANAGER_DESCRIPTION = (
    "Alertmanager's webhook payload (version 4), which Grafana's webhook contact point also sends. Each alert's "
    "`fingerprint` names an event in the token's channel: firing opens it, or updates it while it is ongoing; "
    "resolved closes it; a repeat of an unchanged alert is a replay that adds nothing; a re-fire after a "
    "resolve is a new event. The reply lists each alert's result; one refused alert does not stop the others "
    "(200), and only a notification whose every alert is refused is 400. The credential is a channel token: "
    "`Authorization: Bearer`, Basic auth whose password is the token, or `?token=`.")
NTFY_ERRORS = (400, 401, 403, 413, 414, 503)


def _pagerduty_body() -> RequestBody:
    from eventgate.api.pagerduty import MAX_DEDUP_KEY, SEVERITIES, EnqueueRequest

    text = {"type": ["string", "null"]}
    link = {"type": "object", "properties": {"href": {}, "text": {}}, "additionalProperties": True,
            "description": "An http(s) `href` becomes an action of the event (others are left out)"}
    image = {"type": "object", "properties": {"src": {}, "href": {}, "alt": {}}, "additionalProperties": True,
             "description": "An http(s) `src` becomes an image of the event"}
    return RequestBody(
        "PagerDutyEvent", EnqueueRequest, {
            "routing_key": {"type": "string", "description": "A channel token (or send X-Routing-Key)"},
            "event_action": {"type": "string", "enum": ["trigger", "acknowledge", "resolve"]},
            "dedup_key": {"type": "string", "minLength": 1, "maxLength": MAX_DEDUP_KEY, "pattern": NOT_BLANK},
            "payload": {"type": "object", "additionalProperties": True, "properties": {
                "summary": {"type": ["string", "null"], "maxLength": rules.MAX_DESCRIPTION,
                            "description": "Title (shortened to 256 characters) and message"},
                "source": text, "component": text, "group": text, "class": text,
                "severity": {"type": ["string", "null"], "enum": [*SEVERITIES, None],
                             "description": "critical, error, warning, info → critical, high, normal, low"},
                "timestamp": {"type": ["string", "null"], "description": "ISO 8601; a new event's started_at"},
                "custom_details": {"description": "Kept in attrs.details (at most 16 KiB as attrs)"}},
                "description": "Required by trigger: summary, source and severity"},
            "images": {"type": "array", "items": image},
            "links": {"type": "array", "items": link},
            "client": {"type": "string", "description": "The label of the client_url action"},
            "client_url": {"type": "string"},
        }, required=("event_action",), extra={"additionalProperties": True},
        example={"routing_key": "<channel token>", "event_action": "trigger", "dedup_key": "disk-nas",
                 "payload": {"summary": "Disk full on nas", "source": "nas", "severity": "error"}})


def _alertmanager_body() -> RequestBody:
    from eventgate.api.alertmanager import MAX_ALERTS, Notification

    labels = {"type": ["object", "null"], "additionalProperties": {"type": "string"},
              "propertyNames": {"minLength": 1, "maxLength": rules.MAX_ATTR_KEY}}
    time = {"type": ["string", "null"], "pattern": RFC3339}
    alert = {"type": "object", "additionalProperties": True, "required": ["status"], "properties": {
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "labels": {**labels, "description": "attrs; `severity` sets the severity, `alertname` the default title"},
        "annotations": {**labels, "description": "metadata; `summary` the title, `description` the message"},
        "startsAt": {**time, "description": "RFC 3339"},
        "endsAt": {**time, "description": "RFC 3339; a resolved alert's ended_at"},
        "generatorURL": {"type": ["string", "null"], "description": "An http(s) URL becomes an action"},
        "fingerprint": {"type": ["string", "null"], "description": "Names the event (default: from the labels)"},
        "dashboardURL": {"type": ["string", "null"]}, "panelURL": {"type": ["string", "null"]}}}
    return RequestBody(
        "AlertmanagerNotification", Notification, {
            "version": {"type": "string"}, "status": {"type": "string"}, "receiver": {"type": "string"},
            "groupKey": {"type": "string"}, "externalURL": {"type": "string"},
            "alerts": {"type": "array", "maxItems": MAX_ALERTS, "items": alert},
        }, required=("alerts",), extra={"additionalProperties": True},
        example={"version": "4", "status": "firing", "alerts": [{
            "status": "firing", "labels": {"alertname": "DiskFull", "severity": "warning"},
            "annotations": {"summary": "Disk almost full"}, "startsAt": "2026-11-29T10:00:00Z",
            "fingerprint": "c6f1b5f3d1e2a7b9"}]})


def intake_operations() -> list[ApiOperation]:
    from eventgate.api.alertmanager import AlertmanagerReply
    from eventgate.api.gotify import GotifyError, GotifyMessage, GotifyMessageReply
    from eventgate.api.pagerduty import EnqueueAccepted, EnqueueRefused
    from eventgate.api.ntfy.messages import NtfyError, NtfyMessage
    from eventgate.api.ntfy.publish import NtfyJsonMessage

    gotify = RequestBody(
        "GotifyMessage", GotifyMessage, {
            "title": {**TITLE, "description": "The title (default: the token's name)"},
            "message": {**MESSAGE, "pattern": NOT_BLANK, "description": "The message (not blank)"},
            "priority": {"type": "integer", "minimum": GOTIFY_PRIORITY_MIN, "maximum": GOTIFY_PRIORITY_MAX,
                         "description": "≥8 critical, 5-7 high, 3-4 normal, else low (default 0)"},
            "extras": {"type": "object", "description": "Kept in the event's attrs (deeper objects flattened to "
                                                        "`a.b` keys, arrays as JSON text; at most 16 KiB)",
                       "propertyNames": {"minLength": 1, "maxLength": rules.MAX_ATTR_KEY},
                       "properties": {"client::notification": {
                           "description": "`click.url`, an http(s) URL, also becomes the event's action",
                           "properties": {"click": {"properties": {"url": {"anyOf": [
                               HTTP_URL, {"type": ["null", "boolean", "number", "object", "array"]}]}}}}}}},
        }, required=("message",), example={"title": "Backup", "message": "Backup finished", "priority": 5},
        form_fields=("title", "message", "priority"), extra={"additionalProperties": True})
    ntfy_fields = {
        "topic": {**TOPIC_SCHEMA},
        "message": {**MESSAGE, "description": "The message"},
        "title": {**TITLE, "description": "The title"},
        "priority": {"type": "integer", "minimum": 0, "maximum": 5,
                     "description": "5 critical, 4 high, 3 normal, 1-2 low; 0 is not set"},
        "tags": {"type": "array", "maxItems": rules.MAX_LIST_ITEMS,
                 "items": {"type": "string", "maxLength": rules.MAX_TAG, "pattern": NOT_BLANK}},
        "click": {"type": "string", "description": "A URL to open; an http(s) URL also becomes the event's action"},
        "icon": {**HTTP_URL, "description": "An icon's http(s) URL"},
        "actions": {"type": "array", "maxItems": 3, "items": {
            "type": "object", "required": ["action", "label"], "additionalProperties": False, "properties": {
                "action": {"type": "string", "pattern": rf"^\s*(?:{_words(['view', 'http', 'broadcast', 'copy'])})\s*$"},
                "label": {"type": "string", "pattern": NOT_BLANK},
                "url": {"type": ["string", "null"],
                        "description": "A `view` action's http(s) URL becomes the event's action"},
                "clear": {"type": ["boolean", "string", "null"], "description": "true or \"true\""},
                **{name: {"type": ["string", "null"]} for name in ("method", "body", "intent", "value")},
                **{name: {"type": ["object", "null"], "additionalProperties": {"type": "string"}}
                   for name in ("headers", "extras")}}}},
        "attach": {**HTTP_URL, "description": "An attachment's http(s) URL (file uploads are not supported)"},
        "filename": {"type": "string"}, "markdown": {"type": "boolean"},
        "delay": {"type": "string", "description": "Not supported (400)"},
        "email": {"type": "string", "description": "Not supported (400)"},
        "call": {"type": "string", "description": "Not supported (400)"},
    }
    ntfy = RequestBody("NtfyJsonMessage", NtfyJsonMessage, ntfy_fields, required=("topic",),
                       omit=("delay", "email", "call"), example={"topic": "home", "message": "Door open"},
                       extra={"additionalProperties": True})
    topic = {"topic": TOPIC_SCHEMA}
    return [
        ApiOperation("POST", "/v2/enqueue", "PagerDuty Events API v2: trigger, acknowledge or resolve the event a "
                     "dedup_key names", INTAKE_TAG, _pagerduty_body(), EnqueueAccepted,
                     security=PAGERDUTY_SECURITY, errors=(400, 413, 503), error_type=EnqueueRefused,
                     success_status=202, description=PAGERDUTY_DESCRIPTION),
        ApiOperation("POST", "/integrations/alertmanager", "Alertmanager / Grafana webhook: each alert opens, "
                     "updates or closes the event its fingerprint names", INTAKE_TAG, _alertmanager_body(),
                     AlertmanagerReply, security=ALERTMANAGER_SECURITY, errors=(400, 401, 413, 503),
                     description=ALERTMANAGER_DESCRIPTION),
        ApiOperation("POST", "/message",
                     "Gotify: store a message (JSON or form) as a one-shot event in the token's channel",
                     INTAKE_TAG, gotify, GotifyMessageReply, security=GOTIFY_SECURITY,
                     errors=(400, 401, 413, 415, 503), error_type=GotifyError,
                     description="The credential is a channel token: `X-Gotify-Key`, `?token=` or "
                                 "`Authorization: Bearer`."),
        ApiOperation("POST", "/", "ntfy: publish a JSON message {topic, message, title, priority, tags, …} as a "
                     "one-shot event in the topic's channel", INTAKE_TAG, ntfy, NtfyMessage, security=NTFY_SECURITY,
                     errors=NTFY_ERRORS, parameters=NTFY_PARAMETERS, error_type=NtfyError,
                     description=NTFY_DESCRIPTION + " The JSON's fields win over headers and query parameters."),
        ApiOperation("PUT", "/{topic}", "ntfy: publish the body as a message to the topic (a channel id or name)",
                     INTAKE_TAG, response=NtfyMessage, security=NTFY_SECURITY, errors=NTFY_ERRORS,
                     parameters=NTFY_PARAMETERS, error_type=NtfyError, description=NTFY_DESCRIPTION,
                     path_parameters=topic),
        ApiOperation("POST", "/{topic}", "ntfy: publish the body as a message to the topic (a channel id or name)",
                     INTAKE_TAG, response=NtfyMessage, security=NTFY_SECURITY, errors=NTFY_ERRORS,
                     parameters=NTFY_PARAMETERS, error_type=NtfyError, description=NTFY_DESCRIPTION,
                     path_parameters=topic),
    ]
