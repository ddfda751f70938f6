"""People act on events with an API key (scope events:write; SPEC §11):

    POST /events/{event_id}/acknowledge          → {"data": <event>}
    POST /events/{event_id}/close                → {"data": <event>}   (status "resolved")
    POST /events/{event_id}/notes  {"text": …}   → {"data": <event>}

Each is an operation on the timeline recording who acted (the key's user_id), streamed and
delivered like any other (domain/people_actions.py). An `Idempotency-Key` makes a retry a
replay. Acknowledge and close take no body (an empty one, or `{}`).
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.bodies import decode_struct, read_body
from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.events_resource import event_id_of, idempotency_key, refuse_query_parameters, workspace_events_of
from eventgate.api.key_auth import require_key
from eventgate.domain.errors import DomainError
from eventgate.domain.times import now_ms
from eventgate.domain.views import resource_event


class NoBody(msgspec.Struct, forbid_unknown_fields=True):
    """Acknowledge and close take nothing."""


class NoteBody(msgspec.Struct, forbid_unknown_fields=True):
    text: str


async def _act(request: Request, action: str) -> Response:
    try:
        key = await require_key(request, "events:write")
        refuse_query_parameters(request)
        raw = await read_body(request)
        body = None
        if action == "note":
            body = msgspec.structs.asdict(decode_struct(raw, NoteBody))
        elif raw.strip():
            decode_struct(raw, NoBody)
        event = await workspace_events_of(request).act(key, event_id_of(request), action, body,
                                            idempotency_key=idempotency_key(request))
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": resource_event(event, now_ms())})


async def acknowledge(request: Request) -> Response:
    """Acknowledge the event: someone is on it."""
    return await _act(request, "acknowledge")


async def close(request: Request) -> Response:
    """Close (resolve) the event."""
    return await _act(request, "close")


async def add_note(request: Request) -> Response:
    """Add a note to the event's timeline."""
    return await _act(request, "note")


routes = [
    Route("/events/{event_id}/acknowledge", acknowledge, methods=["POST"], name="acknowledge_event"),
    Route("/events/{event_id}/close", close, methods=["POST"], name="close_event"),
    Route("/events/{event_id}/notes", add_note, methods=["POST"], name="add_event_note"),
]
