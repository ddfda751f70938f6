"""ntfy's subscribe routes (SPEC §13) for the OpenAPI document (docs/phones.md tells the rest)."""

from __future__ import annotations

from eventgate.api.intake_catalogue import _RESERVED, _words
from eventgate.api.ntfy.topics import TOPIC_PATTERN
from eventgate.api.openapi import ApiOperation

PHONES_TAG = "Phones (ntfy subscribe)"
_TOPIC = TOPIC_PATTERN.pattern
TOPICS = {"type": "string", "pattern": f"^(?!(?:{_words(_RESERVED)})$){_TOPIC}(?:,{_TOPIC})*$",
          "description": "One topic or several joined by commas: channels by id or name"}
ONE_TOPIC = {**TOPICS, "pattern": f"^(?!(?:{_words(_RESERVED)})$){_TOPIC}$", "description": "A channel by id or name"}
CREDENTIAL = ("The credential is an API key (scope `subscribe`) or a channel token (its own channel): "
              "`Authorization: Bearer`, Basic auth whose password is the secret, or `?auth=` (base64 of the "
              "Authorization header). Errors are ntfy's `{code, http, error, link}`.")
STREAM_PARAMETERS = tuple(
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("since", "all, none, latest, a message id, a Unix time or a duration (10m)"),
        ("poll", "1: the stored messages, then the end of the response"),
        ("title", "only messages with exactly this title"), ("message", "only messages with exactly this text"),
        ("priority", "only messages of any of these priorities (4,5 or high,urgent)"),
        ("tags", "only messages with all of these tags"),
    ))


def phone_operations() -> list[ApiOperation]:
    from eventgate.api.ntfy.messages import (
        NtfyAccount,
        NtfyAccountToken,
        NtfyError,
        NtfyHealth,
        NtfyNotificationChange,
        NtfySuccess,
    )

    ntfy = {"tag": PHONES_TAG, "security": "api_key", "error_type": NtfyError}
    topics = {"topics": TOPICS}
    change = {"topic": ONE_TOPIC, "sequence_id": {"type": "string", "pattern": "^(?!(?:json|sse|raw|ws|auth)$)",
                                                  "minLength": 1, "description": "The event id"}}
    return [
        ApiOperation("GET", "/{topics}/{form}", "ntfy: subscribe to topics as JSON lines, Server-Sent Events or "
                     "raw text (a stream; with poll=1 the stored messages)", **ntfy, errors=(400, 401, 403),
                     parameters=STREAM_PARAMETERS, media_type="application/x-ndjson", description=CREDENTIAL,
                     path_parameters={**topics, "form": {"type": "string", "enum": ["json", "sse", "raw"]}}),
        ApiOperation("GET", "/{topics}/ws", "ntfy: subscribe to topics over a WebSocket", **ntfy,
                     errors=(400, 401, 403), success_status=101, parameters=STREAM_PARAMETERS,
                     description=CREDENTIAL, path_parameters=topics),
        ApiOperation("GET", "/{topics}/auth", "ntfy: may this credential read every topic?", **ntfy,
                     response=NtfySuccess, errors=(400, 401, 403), description=CREDENTIAL, path_parameters=topics),
        ApiOperation("PUT", "/{topic}/{sequence_id}/clear", "ntfy: clear the event's notification on every "
                     "subscriber (acknowledges the event; an API key with events:write)", **ntfy,
                     response=NtfyNotificationChange, errors=(400, 401, 403, 404), path_parameters=change),
        ApiOperation("POST", "/{topic}/{sequence_id}/clear", "ntfy: the same as PUT", **ntfy,
                     response=NtfyNotificationChange, errors=(400, 401, 403, 404), path_parameters=change),
        ApiOperation("DELETE", "/{topic}/{sequence_id}", "ntfy: delete the event's notification on every "
                     "subscriber (deletes the event; an API key with events:write)", **ntfy,
                     response=NtfyNotificationChange, errors=(400, 401, 403, 404), path_parameters=change),
        ApiOperation("GET", "/v1/health", "ntfy: the process is up", PHONES_TAG, response=NtfyHealth),
        ApiOperation("GET", "/v1/account", "ntfy: the credential's account (anonymous without one)", **ntfy,
                     response=NtfyAccount, errors=(401,)),
        ApiOperation("POST", "/v1/account/token", "ntfy: the token to use (the secret presented)", **ntfy,
                     response=NtfyAccountToken, errors=(401,)),
        *(ApiOperation("GET", path, "ntfy: not offered by eventgate (ntfy's 404)", PHONES_TAG,
                       error_type=NtfyError, errors=(404,))
          for path in ("/v1/config", "/v1/version", "/v1/stats", "/v1/tiers")),
    ]
