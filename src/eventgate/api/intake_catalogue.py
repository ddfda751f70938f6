"""The intake routes (SPEC §9) for the OpenAPI document: Gotify and ntfy publishing.

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

INTAKE_TAG = "Intake (ntfy, Gotify)"


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
NTFY_ERRORS = (400, 401, 403, 413, 414, 503)


def intake_operations() -> list[ApiOperation]:
    from eventgate.api.gotify import GotifyError, GotifyMessage, GotifyMessageReply
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
            "type": "object", "required": ["action", "label"], "properties": {
                "action": {"type": "string", "pattern": rf"^\s*(?:{_words(['view', 'http', 'broadcast', 'copy'])})\s*$"},
                "label": {"type": "string", "pattern": NOT_BLANK},
                "url": {"type": "string", "description": "A `view` action's http(s) URL becomes the event's action"}}}},
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
