"""Seed 002: the events REST resource (`/events`). Workspace API keys; errors in the §2 envelope."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from eventgate.api.envelope import JSONResponse, failure
from eventgate.api.key_auth import require_channel_access, require_key
from eventgate.domain.errors import DomainError
from eventgate.domain.times import now_ms
from eventgate.domain.views import operation_view, resource_event


async def get_event(request: Request) -> Response:
    """Retrieve an event (scope events:read) → {"data": <event>}."""
    try:
        key = await require_key(request, "events:read")
        event = await request.app.state.runtime.reader.event(key.workspace_id, request.path_params["event_id"])
        require_channel_access(key, event["channel_id"])
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": resource_event(event, now_ms())})


async def get_timeline(request: Request) -> Response:
    """An event's operations, oldest first (scope events:read) → {"data": [...]}."""
    try:
        key = await require_key(request, "events:read")
        reader = request.app.state.runtime.reader
        event = await reader.event(key.workspace_id, request.path_params["event_id"])
        require_channel_access(key, event["channel_id"])
        operations = await reader.timeline(event)
    except DomainError as error:
        return failure(error)
    return JSONResponse({"data": [operation_view(op) for op in operations]})


routes = [
    Route("/events/{event_id}", get_event, methods=["GET"], name="get_event"),
    Route("/events/{event_id}/timeline", get_timeline, methods=["GET"], name="get_event_timeline"),
]
