"""ntfy's clear and delete, from the client side (SPEC §13):

    PUT|POST /{topic}/{sequence_id}/clear   → acknowledges the event
    DELETE   /{topic}/{sequence_id}         → deletes the event

ntfy passes these to the topic's subscribers as `message_clear` / `message_delete`. In
eventgate the sequence id is an event id and what subscribers receive are the event's
operations, so each is an operation on the event: an acknowledgement (§11) reaches every
subscriber of the topic as `message_clear`, a deletion as `message_delete`, on every server
process and on resume, like any other message. Both change the event, so both need an API key
with `events:write` that may use the event's channel; a channel token or a key without that
scope is refused (403).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.envelope import JSONResponse
from eventgate.api.events_resource import workspace_events_of
from eventgate.api.ntfy.messages import message_id, ntfy_error
from eventgate.api.ntfy.publish import presented_tokens
from eventgate.api.ntfy.subscribe import subscribers_of
from eventgate.api.ntfy.topics import is_valid_topic
from eventgate.domain.errors import DomainError
from eventgate.service.ntfy_subscribers import checked_topics, forbidden


async def _act(request: Request, action: str) -> Response:
    subscribers = subscribers_of(request)
    topic = request.path_params["topic"]
    event_id = request.path_params["sequence_id"]
    try:
        checked_topics(topic, is_valid_topic)
        if "," in topic:
            raise DomainError(400, "topic_invalid", "invalid topic: name one topic")
        reader = await subscribers.authenticate(presented_tokens(request))
        if reader.key is None:
            raise forbidden(f"to {action} an event's notification, use an API key with events:write "
                            "(it acknowledges or deletes the event)")
        channels = await subscribers.channels_of(reader, [topic], scope="events:write")
        runtime = request.app.state.runtime
        try:
            event = await runtime.reader.event(reader.workspace_id, event_id)
        except DomainError as error:
            if error.status != 404:
                raise
            event = None
        if event is None or event["channel_id"] not in channels:
            raise DomainError(404, "not_found", f"no event {event_id!r} in topic {topic!r}")
        events = workspace_events_of(request)
        if action == "clear":
            after = await events.act(reader.key, event_id, "acknowledge")
            seq, kind = after.get("seq"), "message_clear"
        else:
            seq, kind = await events.delete(reader.key, event_id), "message_delete"
    except DomainError as error:
        return ntfy_error(error)
    return JSONResponse({"id": message_id(seq or 0), "time": int(time.time()), "event": kind, "topic": topic,
                         "sequence_id": event_id})


async def clear_notification(request: Request) -> Response:
    """Clear the event's notification on every subscriber: acknowledges the event."""
    return await _act(request, "clear")


async def delete_notification(request: Request) -> Response:
    """Delete the event's notification on every subscriber: deletes the event."""
    return await _act(request, "delete")


routes = [
    Route("/{topic:ntfy_topics}/{sequence_id}/clear", clear_notification, methods=["PUT", "POST"],
          name="ntfy_clear"),
    Route("/{topic:ntfy_topics}/{sequence_id:ntfy_sequence_id}", delete_notification, methods=["DELETE"], name="ntfy_delete"),
]
