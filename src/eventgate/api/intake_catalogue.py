"""The intake routes (SPEC §9) for the OpenAPI document: Gotify and ntfy publishing.

Kept apart from catalogue.py so that each foreign API lists its routes beside the others';
catalogue.operations() adds them. Their bodies and errors are the foreign APIs' own shapes."""

from __future__ import annotations

from eventgate.api.openapi import ApiOperation

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

    token = ({"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
              "description": "The channel token (or X-Gotify-Key, or Authorization: Bearer)"},)
    return [
        ApiOperation("POST", "/message",
                     "Gotify: store a message (JSON or form) as a one-shot event in the token's channel",
                     INTAKE_TAG, GotifyMessage, GotifyMessageReply, errors=(400, 401, 413, 415, 503),
                     parameters=token, error_type=GotifyError),
        ApiOperation("POST", "/", "ntfy: publish a JSON message {topic, message, title, priority, tags, …} as a "
                     "one-shot event in the topic's channel", INTAKE_TAG, NtfyJsonMessage, NtfyMessage,
                     errors=(400, 401, 403, 413, 503), parameters=NTFY_PARAMETERS, error_type=NtfyError),
        ApiOperation("PUT", "/{topic}", "ntfy: publish the body as a message to the topic (a channel id or name)",
                     INTAKE_TAG, response=NtfyMessage, errors=(400, 401, 403, 413, 503),
                     parameters=NTFY_PARAMETERS, error_type=NtfyError),
        ApiOperation("POST", "/{topic}", "ntfy: publish the body as a message to the topic (a channel id or name)",
                     INTAKE_TAG, response=NtfyMessage, errors=(400, 401, 403, 413, 503),
                     parameters=NTFY_PARAMETERS, error_type=NtfyError),
    ]
