"""The intake routes (SPEC §9) for the OpenAPI document: Gotify and ntfy publishing.

Kept apart from catalogue.py so that each foreign API lists its routes beside the others';
catalogue.operations() adds them. Their bodies and errors are the foreign APIs' own shapes."""

from __future__ import annotations

from eventgate.api.openapi import ApiOperation, RequestBody

INTAKE_TAG = "Intake (ntfy, Gotify)"


def _query(name: str, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": description}


NTFY_PARAMETERS = (
    _query("title", "The title (also X-Title, Title, ti, t; as a header or a query parameter)"),
    _query("priority", "1-5 or min, low, default, high, max, urgent (also X-Priority, prio, p)"),
    _query("tags", "Comma-separated tags (also X-Tags, tag, ta)"),
    _query("click", "A URL to open (also X-Click)"),
    _query("icon", "An icon URL (also X-Icon)"),
    _query("actions", "ntfy action definitions (also X-Actions)"),
    _query("auth", "The Authorization header, base64-encoded, as ntfy clients send it"),
)


def intake_operations() -> list[ApiOperation]:
    from eventgate.api.gotify import GotifyError, GotifyMessage, GotifyMessageReply
    from eventgate.api.ntfy.messages import NtfyError, NtfyMessage
    from eventgate.api.ntfy.publish import NtfyJsonMessage

    gotify = RequestBody(
        "GotifyMessage", GotifyMessage, {
            "title": {"type": "string", "description": "The title (default: the token's name)"},
            "message": {"type": "string", "minLength": 1, "description": "The message"},
            "priority": {"type": "integer", "minimum": 0, "maximum": 10,
                         "description": "≥8 critical, 5-7 high, 3-4 normal, 0-2 low"},
            "extras": {"type": "object", "description": "Kept in the event's attrs"},
        }, required=("message",), example={"title": "Backup", "message": "Backup finished", "priority": 5},
        form_fields=("title", "message", "priority"), extra={"additionalProperties": True})
    ntfy_fields = {
        "topic": {"type": "string", "minLength": 1, "description": "The token's channel, by id or name"},
        "message": {"type": "string", "description": "The message"},
        "title": {"type": "string", "description": "The title"},
        "priority": {"type": "integer", "minimum": 1, "maximum": 5, "description": "5 critical, 4 high, 3 normal, "
                                                                                  "1-2 low"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "click": {"type": "string", "description": "A URL to open"},
        "icon": {"type": "string", "description": "An icon URL"},
        "actions": {"type": "array", "items": {"type": "object"}},
        "attach": {"type": "string"}, "filename": {"type": "string"}, "markdown": {"type": "boolean"},
        "delay": {"type": "string", "description": "Not supported (400)"},
        "email": {"type": "string", "description": "Not supported (400)"},
        "call": {"type": "string", "description": "Not supported (400)"},
    }
    ntfy = RequestBody("NtfyJsonMessage", NtfyJsonMessage, ntfy_fields, required=("topic",),
                       omit=("delay", "email", "call"), example={"topic": "home", "message": "Door open"},
                       extra={"additionalProperties": True})
    token = ({"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
              "description": "The channel token (or X-Gotify-Key, or Authorization: Bearer)"},)
    return [
        ApiOperation("POST", "/message",
                     "Gotify: store a message (JSON or form) as a one-shot event in the token's channel",
                     INTAKE_TAG, gotify, GotifyMessageReply, errors=(400, 401, 413, 415, 503),
                     parameters=token, error_type=GotifyError),
        ApiOperation("POST", "/", "ntfy: publish a JSON message {topic, message, title, priority, tags, …} as a "
                     "one-shot event in the topic's channel", INTAKE_TAG, ntfy, NtfyMessage,
                     errors=(400, 401, 403, 413, 503), parameters=NTFY_PARAMETERS, error_type=NtfyError),
        ApiOperation("PUT", "/{topic}", "ntfy: publish the body as a message to the topic (a channel id or name)",
                     INTAKE_TAG, response=NtfyMessage, errors=(400, 401, 403, 413, 503),
                     parameters=NTFY_PARAMETERS, error_type=NtfyError),
        ApiOperation("POST", "/{topic}", "ntfy: publish the body as a message to the topic (a channel id or name)",
                     INTAKE_TAG, response=NtfyMessage, errors=(400, 401, 403, 413, 503),
                     parameters=NTFY_PARAMETERS, error_type=NtfyError),
    ]
