"""The intake routes (SPEC §9) for the OpenAPI document: Gotify and ntfy publishing.

Kept apart from catalogue.py so that each foreign API lists its routes beside the others';
catalogue.operations() adds them. Their bodies and errors are the foreign APIs' own shapes."""

from __future__ import annotations

from eventgate.api.openapi import ApiOperation

INTAKE_TAG = "Intake (ntfy, Gotify)"


def intake_operations() -> list[ApiOperation]:
    from eventgate.api.gotify import GotifyError, GotifyMessage, GotifyMessageReply

    token = ({"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
              "description": "The channel token (or X-Gotify-Key, or Authorization: Bearer)"},)
    return [
        ApiOperation("POST", "/message",
                     "Gotify: store a message (JSON or form) as a one-shot event in the token's channel",
                     INTAKE_TAG, GotifyMessage, GotifyMessageReply, errors=(400, 401, 413, 415, 503),
                     parameters=token, error_type=GotifyError),
    ]
