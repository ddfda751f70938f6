"""What every route is, for the OpenAPI document: method, path, types, scope, errors.

Add an entry here when adding a route; tests check that every route is listed."""

from __future__ import annotations

import msgspec

from eventgate.api.lifecycle_fields import BodyFormRequest, PathFormRequest
from eventgate.api.openapi import ApiOperation


class LifecycleAccepted(msgspec.Struct):
    channel_id: str
    op_id: str
    event_id: str
    thing_id: str | None
    accepted: bool


class LifecycleEnvelope(msgspec.Struct):
    success: bool
    data: LifecycleAccepted
    error: None
    error_code: None


class PathFormAccepted(msgspec.Struct):
    event_id: str


PRODUCER_ERRORS = (400, 401, 403, 404, 409, 413, 415, 429)


def operations() -> list[ApiOperation]:
    ops: list[ApiOperation] = []
    for kind in ("create", "update", "close"):
        ops.append(ApiOperation("POST", f"/event/{kind}", f"{kind.capitalize()} an event (channel in the body)",
                                "Channel events (body form)", BodyFormRequest, LifecycleEnvelope,
                                security="gateway", errors=PRODUCER_ERRORS))
        ops.append(ApiOperation("POST", f"/v1/channel/{{channel_id}}/event/{kind}",
                                f"{kind.capitalize()} an event (channel in the path)",
                                "Channel events (path form)", PathFormRequest, PathFormAccepted,
                                security="gateway", errors=PRODUCER_ERRORS))
    ops.append(ApiOperation("GET", "/events/{event_id}", "Retrieve an event", "Events",
                            security="api_key", scope="events:read", errors=(401, 403, 404)))
    ops.append(ApiOperation("GET", "/events/{event_id}/timeline", "An event's operations, oldest first", "Events",
                            security="api_key", scope="events:read", errors=(401, 403, 404)))
    for path, summary in (("/healthz", "The process is up"), ("/readyz", "Database and broker reachable"),
                          ("/metrics", "Prometheus metrics"), ("/openapi.json", "This document"),
                          ("/docs", "Human-readable API docs")):
        ops.append(ApiOperation("GET", path, summary, "Operations"))
    return ops
